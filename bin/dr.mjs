#!/usr/bin/env node
// Launcher. Runs the esbuild bundle of the CLI (dist/cli/dr.mjs, built by `npm ci` through the
// `prepare` script, or `npm run build:cli`): no TypeScript loader at run time. When the bundle is
// missing or older than one of its sources (a working tree being edited), it runs bin/dr.ts
// through tsx instead, so what runs is always what the sources say.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Node 22+: cache compiled code between runs (start-up); a no-op where unsupported.
module.enableCompileCache?.();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// A signal while dr loads, before a command has begun (nothing touched yet), exits 130/143 as the
// command would; once a command handles signals itself (core/signals.ts), this one stands aside.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]])
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) process.exit(code);
  });

function freshBundle() {
  if (process.env.DR_NO_BUNDLE) return undefined;
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(join(root, 'dist', 'cli', 'inputs.json'), 'utf8'));
    for (const input of inputs) if (statSync(join(root, input)).mtimeMs > builtAt) return undefined;
    return join(root, 'dist', 'cli', 'dr.mjs');
  } catch {
    return undefined;
  }
}

const bundle = freshBundle();
if (bundle) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('./dr.ts');
  process.exitCode = await main(process.argv.slice(2));
}
