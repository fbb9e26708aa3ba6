/** The TypeScript module holding the compiled bytes of core/backup/row-hash.wat. */
export function compiledRowHashModule(): Promise<string>;
