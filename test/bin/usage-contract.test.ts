/**
 * The README's contract: every usage error of every command exits 2 with one line pointing at the
 * command's help; a flag that does not apply is refused; "did you mean" for a typo; dr --version.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../bin/commands/index.ts';
import { pgUrl } from '../../fixtures/pg.ts';
import pkg from '../../package.json' with { type: 'json' };
import { expectOneLineError, runDr } from '../support/cli.ts';
import { DISPUTED_TIMES, TIME_TABLE } from '../support/time-table.ts';

let dir: string;
let repo: string;
const target = pgUrl('dr_usage_never_created');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dr-usage-'));
  repo = `file://${dir}`;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('exit 2 for every usage error', () => {
  it('walks each command with an unknown flag and an empty value', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const words = name.split(' ');
      const unknown = await runDr([...words, '--no-such-flag']);
      expectOneLineError(unknown, new RegExp(`^dr ${name}: error: .*no-such-flag.*see dr ${name} --help$`), 2);
      const firstString = Object.entries(COMMANDS[name]!.options).find(([, o]) => o.type === 'string')?.[0];
      if (firstString)
        expectOneLineError(await runDr([...words, `--${firstString}`, '']), new RegExp(`--${firstString} is empty`), 2);
    }
  }, 300_000);

  it('refuses each bad value or combination the README lists as usage', async () => {
    const cases: [string[], RegExp][] = [
      [[], /./],
      [['bakup'], /unknown command "bakup"; did you mean "backup"\?/],
      [['backup', '--db', pgUrl('x'), '--repo', repo, '--jsno'], /unknown option --jsno; did you mean --json\?/],
      [['backup', '--repo', repo], /--db is required/],
      [['backup', '--db', 'not a url', '--repo', repo], /is not a connection URL/],
      [['backup', '--db', pgUrl('x'), '--repo', 'ftp://host/x'], /unsupported repository URL "ftp:\/\/host\/x"/],
      [['backup', '--db', pgUrl('x'), '--repo', 's3://Bad_Bucket/x'], /is not a valid S3 bucket name/],
      [
        ['backup', '--db', pgUrl('x'), '--repo', repo, '--kms-key-id', 'k'],
        /--kms-key-id applies to s3:\/\/ repositories only/,
      ],
      [
        ['backup', '--db', pgUrl('x'), '--repo', repo, '--object-lock', 'governance'],
        /--object-lock applies to s3:\/\/ repositories only/,
      ],
      [['backup', '--db', pgUrl('x'), '--repo', repo, '--tier', 'hourly'], /--tier must be one of/],
      [['backup', '--db', pgUrl('x'), '--repo', repo, '--jobs', '0'], /--jobs must be a whole number/],
      [['restore', '--repo', repo, '--target', target, '--backup', 'yesterday'], /"yesterday" is not a backup id/],
      [['restore', '--repo', repo, '--target', 'nope'], /--target "nope" is not a connection URL/],
      [['restore', '--repo', repo, '--target', target, '--tables', ''], /--tables is empty/],
      [
        ['restore', '--repo', repo, '--target', target, '--tables', 'candles', '--since', '2026-01-10'],
        /--since needs --until/,
      ],
      [
        [
          'restore',
          '--repo',
          repo,
          '--target',
          target,
          '--tables',
          'candles',
          '--since',
          '2026-01-10T00:00:00',
          '--until',
          '2026-01-11T00:00:00Z',
        ],
        /is not an ISO 8601 time with a zone/,
      ],
      [
        [
          'restore',
          '--repo',
          repo,
          '--target',
          target,
          '--tables',
          'candles',
          '--since',
          '2026-02-30',
          '--until',
          '2026-03-02',
        ],
        /"2026-02-30" is not a date that exists/,
      ],
      [
        [
          'restore',
          '--repo',
          repo,
          '--target',
          target,
          '--tables',
          'candles',
          '--since',
          '2026-01-11',
          '--until',
          '2026-01-10',
        ],
        /is not before --until/,
      ],
      [
        ['restore', '--repo', repo, '--target', target, '--tables', 'candles', '--time-column', 'time'],
        /--time-column applies to range restores only/,
      ],
      [
        ['restore', '--repo', repo, '--target', target, '--since', '2026-01-10', '--until', '2026-01-11'],
        /--since needs --tables/,
      ],
      [['restore', '--repo', repo, '--target', target, '--merge'], /--merge applies to table restores only/],
      [
        ['restore', '--pitr', repo, '--stanza', 's', '--database', 'd', '--target', target, '--at', '2026-01-15 14:30'],
        /--at "2026-01-15 14:30" is not a time with a zone/,
      ],
      [
        [
          'restore',
          '--pitr',
          repo,
          '--stanza',
          's',
          '--database',
          'd',
          '--target',
          target,
          '--at',
          '2026-01-15T14:30:00Z',
          '--tables',
          'candles',
          '--merge',
        ],
        /--merge does not apply to a pitr restore; drop it/,
      ],
      [
        ['verify', '--repo', repo, '--target', target, '--health-url', 'not a url'],
        /health URL "not a url" is not a URL/,
      ],
      [['verify', '--repo', repo, '--target', target, '--health-url', 'ftp://x/health'], /is not http\(s\)/],
      [['drill', '--repo', repo, '--scratch', target, '--rto', 'soon'], /--rto must be a duration/],
      [['check', '--repo', repo, '--max-age', 'old'], /--max-age must be a duration/],
      [['check', '--repo', repo, '--backup', 'newest'], /"newest" is not a backup id/],
      [['list', '--repo', 's3://'], /unsupported repository URL/],
      [['prune', '--repo', 'http://x'], /unsupported repository URL/],
    ];
    for (const [args, pattern] of cases) {
      const run = await runDr(args);
      if (args.length === 0) {
        expect(run.code).toBe(2);
        continue;
      }
      expectOneLineError(run, pattern, 2);
    }
  }, 300_000);

  it('takes the same times on --since/--until and --at as the restore request does (core/time.ts)', async () => {
    const runs = DISPUTED_TIMES.map(async (input) => {
      const [, instant, kind] = TIME_TABLE.find(([t]) => t === input)!;
      const since = await runDr([
        'restore',
        '--repo',
        repo,
        '--target',
        target,
        '--tables',
        'candles',
        '--since',
        input,
        '--until',
        '2026-01-12T00:00:00Z',
      ]);
      const at = await runDr([
        'restore',
        '--pitr',
        repo,
        '--stanza',
        's',
        '--database',
        'd',
        '--target',
        target,
        '--at',
        input,
      ]);
      return { input, instant, dateOnly: kind === 'date', since, at };
    });
    for (const { input, instant, dateOnly, since, at } of await Promise.all(runs)) {
      const quoted = input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      // Accepted times get past parsing: the empty repository is what fails (exit 1).
      if (instant) expectOneLineError(since, /no backups in/, 1);
      else expectOneLineError(since, new RegExp(`--since "${quoted}" `), 2);
      if (instant && !dateOnly) {
        expect(at.code, at.stderr).toBe(1);
        expect(at.stderr).not.toMatch(/--at "/);
      } else expectOneLineError(at, new RegExp(`--at "${quoted}" `), 2);
    }
  }, 300_000);
});

describe('small things', () => {
  it('dr --version prints the version and the Node.js it needs', async () => {
    const run = await runDr(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `dr ${pkg.version} (crypto-stock-dr; Node.js ${pkg.engines.node}, running ${process.version})\n`,
    );
  });

  it('restore --help shows --backup as optional (it defaults to latest)', async () => {
    const run = await runDr(['restore', '--help']);
    expect(run.stdout).toMatch(/^Usage: dr restore --repo URL \[--backup latest\|ID\] --target URL/);
  });
});
