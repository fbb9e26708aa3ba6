/** Flag parsing shared by the `dr` commands: each command is one module in this folder. */
import { DrError } from '../../core/errors.ts';
import { OBJECT_LOCKS, type ObjectLock, openRepository } from '../../core/repository/index.ts';
import type { Flags } from './command.ts';

export const COMMON = {
  json: { type: 'boolean', default: false, help: 'the result as one JSON object on the last stdout line' },
  quiet: { type: 'boolean', short: 'q', default: false, help: 'no progress on stderr' },
  help: { type: 'boolean', short: 'h', default: false, help: 'this help' },
} as const satisfies Flags;
/** Commands that only read the repository. */
export const REPO_READ = {
  repo: { type: 'string', arg: 'URL', help: 'file:///dir or s3://bucket/prefix' },
} as const satisfies Flags;
/** Commands that write to it: SSE-KMS key and Object Lock retention for what they write. */
export const REPO = {
  ...REPO_READ,
  'kms-key-id': {
    type: 'string',
    arg: 'ID',
    help: "SSE-KMS key for s3:// objects (default: the bucket's encryption)",
  },
  'object-lock': {
    type: 'string',
    arg: 'MODE',
    help: "none | governance | tiered: lock each s3:// object until its tier's retention ends (default: none)",
  },
} as const satisfies Flags;
export const PG = {
  jobs: { type: 'string', short: 'j', arg: 'N', help: 'parallel pg_dump/pg_restore jobs (default: CPU count)' },
  'pg-bin': { type: 'string', arg: 'DIR', help: 'directory of the PostgreSQL client programs (default: PATH)' },
  'work-dir': { type: 'string', arg: 'DIR', help: 'where dumps are written and downloaded (default: OS temp dir)' },
} as const satisfies Flags;

/** parseArgs values; a string[] for options declared `multiple: true`. */
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Io {
  readonly log: (message: string) => void;
  /** Where `log` writes, for a command that draws in place (the drill's ticker). */
  readonly stderr: NodeJS.WritableStream;
}

export class UsageError extends DrError {
  constructor(message: string) {
    super(message, 'see dr --help', 2);
  }
}

export function usage(message: string): UsageError {
  return new UsageError(message);
}

export function optionalString(v: Values, name: string): string | undefined {
  const value = v[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A repeatable string option (`multiple: true`): every value given, in order. */
export function strings(v: Values, name: string): string[] {
  const value = v[name];
  return Array.isArray(value)
    ? value.filter((s) => s !== '')
    : typeof value === 'string' && value !== ''
      ? [value]
      : [];
}

export function required(v: Values, name: string): string {
  const value = optionalString(v, name);
  if (value === undefined) throw usage(`--${name} is required`);
  return value;
}

/**
 * A whole number ≥ 1 (`--jobs`, `--health-timeout`, `--rpo-seconds`), or undefined when not given.
 * `unit` names what it counts in the message (milliseconds).
 */
export function positiveInt(v: Values, name: string, unit?: string): number | undefined {
  const raw = optionalString(v, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw usage(`--${name} must be a whole number${unit ? ` of ${unit}` : ''} ≥ 1, got "${raw}"`);
  return n;
}

export function repository(v: Values) {
  const url = required(v, 'repo');
  if (url.startsWith('file://')) {
    // Encryption keys and Object Lock are S3's: on a directory they would be silently ignored.
    if (optionalString(v, 'kms-key-id') !== undefined)
      throw usage('--kms-key-id applies to s3:// repositories only (SSE-KMS); drop it for a file:// repository');
    const lock = optionalString(v, 'object-lock');
    if (lock !== undefined && lock !== 'none')
      throw usage(
        '--object-lock applies to s3:// repositories only (S3 Object Lock); drop it for a file:// repository',
      );
  }
  const objectLock = optionalString(v, 'object-lock') ?? 'none';
  if (!(OBJECT_LOCKS as readonly string[]).includes(objectLock)) {
    throw usage(`--object-lock must be one of ${OBJECT_LOCKS.join(', ')}, got "${objectLock}"`);
  }
  return openRepository(url, { kmsKeyId: optionalString(v, 'kms-key-id'), objectLock: objectLock as ObjectLock });
}
