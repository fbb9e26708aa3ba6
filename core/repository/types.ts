import type { Readable } from 'node:stream';
import type { RetentionClass } from './tiers.ts';

/**
 * Object Lock retention a repository applies to what it writes (s3:// only). 'tiered': GOVERNANCE
 * for daily objects (break-glass can still remove a bad one), COMPLIANCE for weekly and monthly.
 */
export const OBJECT_LOCKS = ['none', 'governance', 'tiered'] as const;
export type ObjectLock = (typeof OBJECT_LOCKS)[number];

/** What a completed write stored: the exact bytes' size and SHA-256 (hex). */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/** What `head` reports about an object. */
export interface ObjectInfo {
  readonly size: number;
  readonly lastModified: Date;
  /** Object Lock retention the store reports (S3), when the object has one. */
  readonly lock?: { readonly mode: string; readonly until: Date };
}

export interface PutOptions {
  /**
   * Stored as the `retention=<tier>` tag (S3) so lifecycle rules can expire it. `evidence` (drill
   * reports) is also locked in COMPLIANCE mode for EVIDENCE_RETENTION_DAYS wherever the repository
   * locks objects (core/repository/tiers.ts).
   */
  readonly tier: RetentionClass;
  /** @default - application/octet-stream */
  readonly contentType?: string;
  /**
   * The body's size when known in advance (a local file), so multipart uploads can choose
   * parts large enough for S3's 10,000-part limit.
   * @default - unknown: the smallest part size
   */
  readonly expectedSize?: number;
}

/**
 * Where backups live: `file:///dir` (the guide's ./backups) or `s3://bucket/prefix`.
 * Keys are relative, '/'-separated, and identical in both, so the layout is the same.
 * Objects are written once: `put` refuses an existing key, so the bucket can be locked.
 */
export interface Repository {
  /** The repository URL, safe to print. */
  readonly url: string;
  /**
   * Whether `put` streams a body of unknown size as it comes (a local file), or must hold parts
   * of it in memory (S3 multipart): a caller with a local file then hands over one of known size.
   */
  readonly streamsUnsizedBodies: boolean;
  /** Fails with a DrError saying why when the repository cannot be written (run before any dump). */
  assertWritable(): Promise<void>;
  /**
   * Streams `body` to `key`, hashing it on the way. The object becomes visible only when complete
   * (never half-written under its final key). Fails if the key exists.
   */
  put(key: string, body: Readable | Buffer | string, options: PutOptions): Promise<StoredObject>;
  /** Reads an object; fails with a DrError naming the key when it is missing. */
  get(key: string): Promise<Readable>;
  /**
   * Size and last-modified time of an object (S3 LastModified, the file's mtime), or undefined
   * when it does not exist. The time lets the RPO watch age pgBackRest's WAL and backups.
   */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * Keys under `prefix`, in lexicographic order. With `delimiter` ('/'), as S3 does: the keys
   * directly at that level plus the common prefixes one level down (ending in '/').
   */
  list(prefix: string, options?: { readonly delimiter?: string }): Promise<string[]>;
  /**
   * A local filesystem path for `key` when the repository is on this machine (file://),
   * so restores can verify and read files in place instead of copying them.
   * @default - undefined for remote repositories
   */
  localPath?(key: string): string | undefined;
  /**
   * Removes an object (dr prune); a missing key is not an error. Fails with a DrError saying why
   * (locked, read-only, access denied). @default - undefined: the repository cannot delete
   */
  delete?(key: string): Promise<void>;
  /**
   * Places (`on`) or releases an S3 Legal Hold on the object's current version: while held, no
   * lifecycle rule or retention date can remove it (core/repository/verified-hold.ts holds the newest verified
   * backup). @default - undefined: the store has no holds (file://, where nothing expires on its
   * own and dr prune keeps the newest backup that passed a drill or check anyway)
   */
  setLegalHold?(key: string, on: boolean): Promise<void>;
  /** Whether the object's current version is under a Legal Hold; undefined when it does not exist. @default - with setLegalHold */
  legalHold?(key: string): Promise<boolean | undefined>;
  /**
   * Fails with a DrError when the repository itself does not exist (a file:// directory that is
   * not there), so readers say so rather than "no backups". @default - nothing to check
   */
  assertExists?(): Promise<void>;
}
