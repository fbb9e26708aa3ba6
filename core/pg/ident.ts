/**
 * Identifiers as people read them in messages, results and reports: quoted only where SQL needs
 * it. For SQL text, quoteIdent/qualified (core/pg/connection.ts) always quote.
 */
import { quoteIdent } from './connection.ts';

/** An identifier as SQL needs it written: bare when it is plain lower case, else double-quoted. */
export function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name);
}

/** `schema.name`, each part as `ident` writes it. */
export function displayName(t: { readonly schema: string; readonly name: string }): string {
  return `${ident(t.schema)}.${ident(t.name)}`;
}
