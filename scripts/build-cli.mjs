#!/usr/bin/env node
// Builds the `dr` CLI as one esbuild bundle (dist/cli/dr.mjs, plus chunks for what loads lazily,
// e.g. the AWS SDK), so bin/dr.mjs starts without a TypeScript loader. Run by `npm ci`/`npm install`
// (the `prepare` script) and by `npm run build:cli`; `node scripts/build-cli.mjs DIR` builds into
// DIR instead. DIR/inputs.json lists the sources, so the launcher can tell a bundle older than the
// sources (a working tree being edited) and use tsx then. Every file is written to a temporary
// name and renamed into place, inputs.json last, so a dr starting meanwhile never reads half a file.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv[2] ?? join(root, 'dist', 'cli');
// A source saved while esbuild runs must make the bundle stale: the time before it reads anything.
const started = Date.now();
const result = await build({
  entryPoints: { dr: join(root, 'bin', 'cli.ts') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // pg's optional native binding, never used.
  external: ['pg-native'],
  // Bundled CommonJS dependencies call require() inside an ES module.
  banner: {
    js: "import { createRequire as __drCreateRequire } from 'node:module'; const require = __drCreateRequire(import.meta.url);",
  },
  metafile: true,
  write: false,
  logLevel: 'warning',
  legalComments: 'none',
  // Smaller to parse at start-up; names kept, so a bug's stack still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
});
const put = (path, contents) => {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, contents);
  renameSync(temp, path);
};
// Chunks first (content-hashed names), then the entry, then the marker the launcher trusts.
const files = [...result.outputFiles].sort(
  (a, b) => Number(a.path.endsWith('/dr.mjs')) - Number(b.path.endsWith('/dr.mjs')),
);
for (const file of files) put(file.path, file.contents);
const inputs = Object.keys(result.metafile.inputs)
  .filter((p) => !p.includes('node_modules'))
  .map((p) => relative(root, join(root, p)));
put(join(outdir, 'inputs.json'), `${JSON.stringify({ builtAt: started, inputs }, null, 1)}\n`);
