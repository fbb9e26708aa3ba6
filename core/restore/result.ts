/**
 * Every `dr restore --json` result (full, tables/range, point in time), each stated once as a
 * schema with its type derived from it: the restores build their results with these types, the
 * CLI prints them, the state machine's summary (summary.ts) parses the job's recorded result with
 * them, and a drill report (core/drill/facts.ts) reads a full restore's with RestoreResultSchema.
 */
import { z } from 'zod';

/** The backup a restore used. */
export const BackupRefSchema = z.object({
  id: z.string(),
  database: z.string(),
  tier: z.string(),
  startedAt: z.string(),
});

/** A newer backup that failed verification and was skipped (only with `latest`). */
export const FallbackSchema = z.object({ id: z.string(), reason: z.string() });
export type FallbackRecord = Readonly<z.infer<typeof FallbackSchema>>;

/** A restored time range: rows with since <= time < until. */
export const RangeSchema = z.object({ since: z.string(), until: z.string() });

/** One table a table, range or point-in-time restore put back (core/restore/replace.ts). */
export const ReplacedTableSchema = z.object({
  /** `schema.name`, quoted where SQL needs it. */
  table: z.string(),
  /** Rows of the target that were replaced (moved to the safety table). */
  rowsReplaced: z.number(),
  /** Rows inserted from the source. */
  rowsRestored: z.number(),
  /** Target rows in scope (the table, or the range) left as they were: a merge keeps them all. */
  rowsKept: z.number(),
  /** The safety table holding the replaced rows (`schema.name`), or null when nothing was replaced. */
  safetyTable: z.string().nullable(),
  /** True when the table was missing from the target and was created from the source's definition. */
  created: z.boolean(),
  /** Owned sequences moved forward to the source's position, so new rows get no duplicate ids. */
  sequencesAdvanced: z.array(z.string()),
});
export type ReplacedTable = Readonly<z.infer<typeof ReplacedTableSchema>>;

/**
 * A full restore's time, split so that the parts add up to the whole: a drill report puts them
 * under the restore time it measures against the RTO.
 */
export const RestorePhasesSchema = z.object({
  /** Finding the backup, checking the target server (versions, emptiness) and dropping leftovers of killed runs. */
  checkTargetMs: z.number(),
  /** Verifying newer backups that failed verification and were skipped (with `latest`). */
  fallbackMs: z.number(),
  /** Downloading the backup's files (from S3 their checksums are verified on the way, so verifyMs is 0). */
  downloadMs: z.number(),
  /** Checksumming the files in place (file:// repositories). */
  verifyMs: z.number(),
  /** pg_restore into the staging database (TimescaleDB's steps included). */
  restoreMs: z.number(),
  /** Database properties applied to the staging database, and the swap into the target's name. */
  swapMs: z.number(),
  /** The rest (reading the manifest, the work folder, creating the staging database, globals): durationMs minus the others. */
  otherMs: z.number(),
});

/** `dr restore` of a whole database (core/restore/full.ts). */
export const FullRestoreResultSchema = z.object({
  backup: BackupRefSchema,
  /** Newer backups that failed verification and were skipped (only with `latest`). */
  fallbacks: z.array(FallbackSchema),
  target: z.string(),
  replaced: z.boolean(),
  files: z.number(),
  bytes: z.number(),
  tables: z.number(),
  rows: z.number(),
  durationMs: z.number(),
  /** Where `durationMs` went; the phases add up to it exactly. */
  phases: RestorePhasesSchema,
  warnings: z.array(z.string()),
});
export type RestoreResult = Readonly<z.infer<typeof FullRestoreResultSchema>>;

/** `dr restore --tables` (with `--since/--until`: a range) (core/restore/tables.ts). */
export const TableRestoreResultSchema = z.object({
  mode: z.enum(['tables', 'range']),
  backup: BackupRefSchema,
  fallbacks: z.array(FallbackSchema),
  target: z.string(),
  range: RangeSchema.nullable(),
  tables: z.array(ReplacedTableSchema.extend({ timeColumn: z.string().nullable() })),
  /** Backup files downloaded and verified (manifest paths), and their total size. */
  files: z.array(z.string()),
  bytes: z.number(),
  /** The whole backup's size, for comparison. */
  backupBytes: z.number(),
  durationMs: z.number(),
  phases: z.object({ downloadMs: z.number(), verifyMs: z.number(), stageMs: z.number(), applyMs: z.number() }),
  warnings: z.array(z.string()),
});
export type TableRestoreResult = Readonly<z.infer<typeof TableRestoreResultSchema>>;

/** `dr restore --at` (core/pitr/restore.ts). */
export const PitrRestoreResultSchema = z.object({
  mode: z.enum(['full', 'tables']),
  /** The target as given: a time (UTC, microseconds), or a description (end of the archive, LSN, …). */
  at: z.string(),
  recovery: z.object({ kind: z.enum(['time', 'latest', 'lsn', 'xid', 'name']), value: z.string().nullable() }),
  /** The timeline recovery followed. */
  timeline: z.number(),
  /** PostgreSQL's own line saying where recovery stopped. */
  stopRecord: z.string(),
  stanza: z.string(),
  /** The pgBackRest base backup recovery started from. */
  backup: z.string(),
  database: z.string(),
  target: z.string(),
  /** Commit time of the last transaction kept (null when none after the backup). */
  lastCommit: z.string().nullable(),
  /** Commit time of the first transaction left out: proof recovery went past `at` and no further (time targets). */
  stoppedBefore: z.string().nullable(),
  replaced: z.boolean(),
  tables: z.array(ReplacedTableSchema).optional(),
  durationMs: z.number(),
  phases: z.object({ physicalMs: z.number(), recoveryMs: z.number(), transferMs: z.number() }),
  warnings: z.array(z.string()),
});
export type PitrRestoreResult = Readonly<z.infer<typeof PitrRestoreResultSchema>>;

/** A result as `--json` prints it: `ok: true` first (bin/dr.ts). */
export const printed = <Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>) =>
  schema.extend({ ok: z.literal(true) });
