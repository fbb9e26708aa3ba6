/**
 * A CommonJS package's exports from `import()`. Run from source (tsx) or a single-file bundle they
 * are the namespace's named exports; in the code-split CLI bundle (scripts/build-cli.mjs) the
 * lazily loaded chunk exports them as `default`. `probe` names an export the caller needs.
 */
export function cjsExports<T extends object>(mod: T, probe: string): T {
  if (probe in mod) return mod;
  const inner = (mod as { default?: unknown }).default;
  return inner && typeof inner === 'object' && probe in inner ? (inner as T) : mod;
}
