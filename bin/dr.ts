/**
 * The `dr` CLI: the same code runs on a laptop (`npx dr`) and in the Fargate job.
 * Progress goes to stderr; the result goes to stdout, as one JSON object on the last line with --json.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runBackup, formatBytes } from '../core/backup.ts';
import { listBackups } from '../core/backups.ts';
import { DrError } from '../core/errors.ts';
import { openRepository } from '../core/repository/index.ts';
import { runRestore } from '../core/restore.ts';
import { isTier, TIERS } from '../core/tiers.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};
const REPO: Options = {
  repo: { type: 'string' },
  'kms-key-id': { type: 'string' },
};
const PG: Options = {
  jobs: { type: 'string', short: 'j' },
  'pg-bin': { type: 'string' },
  'work-dir': { type: 'string' },
};

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Options;
  readonly run: (values: Values, io: Io) => Promise<unknown>;
  readonly human: (result: never) => string;
}

type Values = Record<string, string | boolean | undefined>;

interface Io {
  readonly log: (message: string) => void;
}

const HELP = `dr: backups, restores and drills for PostgreSQL (crypto-stock-dr)

Usage: dr <command> [flags]

Commands:
  backup    Dump a database into a repository (pg_dump -Fd, parallel, checksummed, manifest last)
  list      List the complete backups in a repository
  restore   Verify a backup and restore it into a target database

Repositories: file:///path/to/dir (or file://./backups) and s3://bucket/prefix
Connections:  postgres://user@host:5432/database; passwords come from PGPASSWORD or ~/.pgpass,
              and the other PG* variables (PGHOST, PGPORT, PGUSER, PGSSLMODE…) work as in libpq.
S3:           the standard AWS environment: AWS_REGION, AWS_PROFILE or keys, AWS_ENDPOINT_URL_S3.

Common flags:
  --json          print the result as one JSON object on the last stdout line
  -q, --quiet     no progress on stderr
  -h, --help      help for a command: dr <command> --help

Exit status: 0 success, 1 failure (one line on stderr says what and how to fix it), 2 bad usage.
`;

const COMMANDS: Record<string, Command> = {
  backup: {
    summary: 'Dump a database into a repository',
    usage: `Usage: dr backup --db URL --repo URL [flags]

  --db URL           source database (postgres://user@host:5432/crypto_stock)
  --repo URL         file:///dir or s3://bucket/prefix
  --tier TIER        force the retention tier: ${TIERS.join(' | ')}
                     (default: monthly on the 1st (UTC), weekly on Sundays, daily otherwise)
  -j, --jobs N       parallel pg_dump jobs (default: CPU count)
  --kms-key-id ID    SSE-KMS key for s3:// objects (default: the bucket's encryption)
  --pg-bin DIR       directory of pg_dump/pg_dumpall (default: PATH)
  --work-dir DIR     where pg_dump writes before upload (default: OS temp dir)
  --json, --quiet`,
    options: { ...COMMON, ...REPO, ...PG, db: { type: 'string' }, tier: { type: 'string' } },
    async run(v, io) {
      const tier = optionalString(v, 'tier');
      if (tier !== undefined && !isTier(tier)) throw usage(`--tier must be one of ${TIERS.join(', ')}, got "${tier}"`);
      return runBackup({
        db: required(v, 'db'),
        repository: repository(v),
        jobs: jobs(v),
        tier,
        tools: { binDir: optionalString(v, 'pg-bin') },
        workDir: optionalString(v, 'work-dir'),
        log: io.log,
      });
    },
    human: (r: Awaited<ReturnType<typeof runBackup>>) =>
      [
        `backup ${r.id} of ${r.database} complete (${r.tier})`,
        `  ${r.files} files, ${formatBytes(r.bytes)}, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
        `  repository: ${r.repository}`,
        ...r.warnings.map((w) => `  warning: ${w}`),
      ].join('\n'),
  },
  list: {
    summary: 'List the complete backups in a repository',
    usage: `Usage: dr list --repo URL [--database NAME] [--json]

  --repo URL         file:///dir or s3://bucket/prefix
  --database NAME    only this database's backups
  --json`,
    options: { ...COMMON, ...REPO, database: { type: 'string' } },
    async run(v) {
      return listBackups(repository(v), optionalString(v, 'database'));
    },
    human: (r: Awaited<ReturnType<typeof listBackups>>) => {
      if (r.backups.length === 0) return `no complete backups${r.incomplete.length ? ` (${r.incomplete.length} incomplete ignored)` : ''}`;
      const rows = r.backups.map((b) => [b.id, b.database, b.tier, b.startedAt.replace(/\.\d+Z$/, 'Z'), formatBytes(b.bytes), String(b.tables), String(b.rows)]);
      const table = [['ID', 'DATABASE', 'TIER', 'STARTED', 'SIZE', 'TABLES', 'ROWS'], ...rows];
      const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
      const lines = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
      if (r.incomplete.length) lines.push(`(${r.incomplete.length} incomplete backups without a manifest ignored)`);
      return lines.join('\n');
    },
  },
  restore: {
    summary: 'Verify a backup and restore it into a target database',
    usage: `Usage: dr restore --repo URL --backup latest|ID --target URL [flags]

  --repo URL         file:///dir or s3://bucket/prefix
  --backup ID        a backup id from dr list, or latest (default): the newest complete backup;
                     if it fails verification, the previous one is used and the fallback reported
  --database NAME    source database in the repository (needed when it holds several)
  --target URL       target database; created when missing (postgres://user@host:5432/crypto_stock_restored)
  --overwrite        replace a non-empty target: the backup is verified and restored into a staging
                     database first; the target is swapped only when that succeeded
  --with-globals     first create the backup's roles and tablespaces on the target server
  --no-owner         do not restore ownership and privileges (target lacks the source's roles)
  -j, --jobs N       parallel pg_restore jobs (default: CPU count)
  --pg-bin DIR       directory of pg_restore/psql (default: PATH)
  --work-dir DIR     where s3:// backups are downloaded (default: OS temp dir)
  --json, --quiet`,
    options: {
      ...COMMON,
      ...REPO,
      ...PG,
      backup: { type: 'string', default: 'latest' },
      database: { type: 'string' },
      target: { type: 'string' },
      overwrite: { type: 'boolean', default: false },
      'with-globals': { type: 'boolean', default: false },
      'no-owner': { type: 'boolean', default: false },
    },
    async run(v, io) {
      return runRestore({
        repository: repository(v),
        backup: required(v, 'backup'),
        database: optionalString(v, 'database'),
        target: required(v, 'target'),
        overwrite: v.overwrite === true,
        withGlobals: v['with-globals'] === true,
        noOwner: v['no-owner'] === true,
        jobs: jobs(v),
        tools: { binDir: optionalString(v, 'pg-bin') },
        workDir: optionalString(v, 'work-dir'),
        log: io.log,
      });
    },
    human: (r: Awaited<ReturnType<typeof runRestore>>) =>
      [
        ...r.fallbacks.map((f) => `FALLBACK: backup ${f.id} failed verification: ${f.reason}`),
        `restored backup ${r.backup.id} of ${r.backup.database} into ${r.target}${r.replaced ? ' (replaced)' : ''}`,
        `  ${r.files} files, ${formatBytes(r.bytes)} verified, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
        ...r.warnings.filter((w) => !w.startsWith('FALLBACK')).map((w) => `  warning: ${w}`),
      ].join('\n'),
  },
};

class UsageError extends DrError {
  constructor(message: string) {
    super(message, 'see dr --help', 2);
  }
}

function usage(message: string): UsageError {
  return new UsageError(message);
}

function optionalString(v: Values, name: string): string | undefined {
  const value = v[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function required(v: Values, name: string): string {
  const value = optionalString(v, name);
  if (value === undefined) throw usage(`--${name} is required`);
  return value;
}

function jobs(v: Values): number | undefined {
  const raw = optionalString(v, 'jobs');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw usage(`--jobs must be a whole number ≥ 1, got "${raw}"`);
  return n;
}

function repository(v: Values) {
  return openRepository(required(v, 'repo'), { kmsKeyId: optionalString(v, 'kms-key-id') });
}

export interface MainIo {
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
}

/** Runs one command; returns the exit status. Never throws for user errors. */
export async function main(argv: string[], io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  const json = rest.includes('--json');
  const fail = (err: DrError) => {
    stderr.write(`dr ${name}: error: ${err.oneLine()}\n`);
    if (json) stdout.write(`${JSON.stringify({ ok: false, error: err.message, hint: err.hint ?? null })}\n`);
    return err.exitCode;
  };
  if (!command) return fail(usage(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}`));
  let values: Values;
  try {
    values = parseArgs({ args: rest, options: command.options, allowPositionals: false, strict: true }).values as Values;
  } catch (err) {
    return fail(usage((err as Error).message.split('\n')[0]));
  }
  if (values.help) {
    stdout.write(`${command.usage}\n`);
    return 0;
  }
  const quiet = values.quiet === true;
  try {
    const result = await command.run(values, { log: (m) => { if (!quiet) stderr.write(`dr ${name}: ${m}\n`); } });
    stdout.write(json ? `${JSON.stringify({ ok: true, ...(result as object) })}\n` : `${command.human(result as never)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof DrError) return fail(err);
    stderr.write(`dr ${name}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    if (json) stdout.write(`${JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err), hint: 'this is a bug in dr; please report it with the output above' })}\n`);
    return 70;
  }
}
