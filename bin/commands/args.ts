/** Flag parsing shared by the `dr` commands: each command is one module in this folder. */
import type { ParseArgsConfig } from 'node:util';
import { DrError } from '../../core/errors.ts';
import { OBJECT_LOCKS, type ObjectLock, openRepository } from '../../core/repository/index.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON: Options = {
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};
/** Commands that only read the repository. */
export const REPO_READ: Options = {
  repo: { type: 'string' },
};
/** Commands that write to it: SSE-KMS key and Object Lock retention for what they write. */
export const REPO: Options = {
  ...REPO_READ,
  'kms-key-id': { type: 'string' },
  'object-lock': { type: 'string' },
};
export const PG: Options = {
  jobs: { type: 'string', short: 'j' },
  'pg-bin': { type: 'string' },
  'work-dir': { type: 'string' },
};

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: Options;
  readonly run: (values: Values, io: Io) => Promise<unknown>;
  readonly human: (result: never) => string;
  /** Exit status for a result that ran to completion but failed (e.g. a verification). @default - 0 */
  readonly exitCode?: (result: never) => number;
  /**
   * The option one positional argument fills (`dr remote status <arn>` = `--execution <arn>`).
   * @default - no positional arguments
   */
  readonly positional?: string;
}

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

export function jobs(v: Values): number | undefined {
  const raw = optionalString(v, 'jobs');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw usage(`--jobs must be a whole number ≥ 1, got "${raw}"`);
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
