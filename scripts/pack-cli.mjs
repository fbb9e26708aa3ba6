#!/usr/bin/env node
// A tarball of the bundled CLI alone, for database hosts: no dependencies, no dev tools.
//   npm run pack:cli            -> dist/crypto-stock-dr-cli-<version>.tgz
//   npm install -g ./crypto-stock-dr-cli-<version>.tgz   (on the host; then `dr --help`)
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const stage = join(root, 'dist', 'pack-cli');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
execFileSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs'), join(stage, 'cli')], { stdio: 'inherit' });
rmSync(join(stage, 'cli', 'inputs.json'));
writeFileSync(join(stage, 'dr.mjs'), "#!/usr/bin/env node\nimport './cli/dr.mjs';\n", { mode: 0o755 });
writeFileSync(
  join(stage, 'package.json'),
  `${JSON.stringify(
    {
      name: `${pkg.name}-cli`,
      version: pkg.version,
      description: `The dr CLI of ${pkg.name}, bundled: backups, restores and drills for PostgreSQL/TimescaleDB`,
      type: 'module',
      bin: { dr: 'dr.mjs' },
      engines: pkg.engines,
      files: ['dr.mjs', 'cli'],
    },
    null,
    2,
  )}\n`,
);
cpSync(join(root, 'README.md'), join(stage, 'README.md'));
const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', join(root, 'dist')], {
  cwd: stage,
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop();
process.stdout.write(`${join(root, 'dist', tgz)}\n`);
