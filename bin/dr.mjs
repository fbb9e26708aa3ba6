#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx, so `npx dr` works right after `npm ci`
// with no build step. The Fargate image runs an esbuild bundle of the same bin/dr.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./dr.ts');
process.exitCode = await main(process.argv.slice(2));
