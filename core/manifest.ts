import { z } from 'zod';
import { TIERS } from './tiers.ts';

/**
 * The backup manifest: written last, it is the backup's commit marker, and it records what a
 * correct restore must contain. Bump MANIFEST_FORMAT_VERSION on any incompatible change; readers
 * refuse versions they do not know. Documented in README.md ("Manifest format").
 */
export const MANIFEST_FORMAT_VERSION = 2;

export const MANIFEST_KIND = 'crypto-stock-dr/backup-manifest';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const isoTime = z.string().min(1);

export const ManifestFileSchema = z.object({
  /** Relative to the backup's folder, e.g. `data/toc.dat`. */
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
});

export const IndexSchema = z.object({ name: z.string(), definition: z.string() });

export const ConstraintSchema = z.object({
  name: z.string(),
  /** pg_constraint.contype: p primary key, f foreign key, u unique, c check, x exclusion, t trigger. */
  type: z.string().length(1),
  definition: z.string(),
});

export const TableSchema = z.object({
  schema: z.string(),
  name: z.string(),
  /**
   * `partitioned` parents hold no rows themselves: their count is the sum of their partitions.
   * Materialized views are listed because a restore repopulates them (REFRESH) and can get them wrong.
   * A `hypertable` (TimescaleDB) counts its rows through itself, chunks included; its chunks are
   * described under `timescale`, not here.
   */
  kind: z.enum(['table', 'partitioned', 'partition', 'materialized_view', 'hypertable']),
  /** `schema.name` of the parent, for partitions. */
  parent: z.string().optional(),
  /** Exact count(*), taken in the dump's snapshot. */
  rows: z.number().int().nonnegative(),
  /** The time-like column used for freshness and date-range restores, when the table has one. */
  timeColumn: z.string().optional(),
  /** MAX(timeColumn) as ISO text in the dump's snapshot; null when the table is empty. */
  maxTime: z.string().nullable().optional(),
  indexes: z.array(IndexSchema),
  constraints: z.array(ConstraintSchema),
});

export const SequenceSchema = z.object({
  schema: z.string(),
  name: z.string(),
  /** As text: sequences are bigint. Null when never used. */
  lastValue: z.string().nullable(),
});

const relationName = z.object({ schema: z.string(), name: z.string() });

export const TimescaleChunkSchema = relationName.extend({
  /** `[rangeStart, rangeEnd)` on the time dimension, PostgreSQL text in UTC; null for a non-time dimension. */
  rangeStart: z.string().nullable(),
  rangeEnd: z.string().nullable(),
  compressed: z.boolean(),
  compressedChunk: relationName.optional(),
  /** Manifest paths of the files holding the chunk's rows (its own, and its compressed chunk's). */
  dataFiles: z.array(z.string()),
});

/** What a TimescaleDB database holds beyond its tables: hypertables' chunks, continuous aggregates, policy jobs. */
export const TimescaleSchema = z.object({
  version: z.string(),
  hypertables: z.array(relationName.extend({
    timeColumn: z.string().nullable(),
    compressionEnabled: z.boolean(),
    chunks: z.array(TimescaleChunkSchema),
  })),
  continuousAggregates: z.array(relationName.extend({ rows: z.number().int().nonnegative(), materializedOnly: z.boolean() })),
  /** Users' jobs (policies and custom jobs); TimescaleDB's own (ids below 1000) are left out. */
  jobs: z.array(z.object({
    id: z.number().int(),
    proc: z.string(),
    hypertable: z.string().nullable(),
    scheduleInterval: z.string(),
    scheduled: z.boolean(),
    config: z.string().nullable(),
    /** When it was next due at backup time (its statistics, which a dump does not hold): a restore keeps that schedule. */
    nextStart: z.string().nullable(),
  })),
});

export const ManifestSchema = z.object({
  kind: z.literal(MANIFEST_KIND),
  /** Readers take 1 too: it lacks only the `timescale` section and the `hypertable` kind. */
  formatVersion: z.union([z.literal(1), z.literal(MANIFEST_FORMAT_VERSION)]),
  id: z.string().min(1),
  database: z.string().min(1),
  tier: z.enum(TIERS),
  startedAt: isoTime,
  finishedAt: isoTime,
  server: z.object({ version: z.string(), versionNum: z.number().int() }),
  /** The source database's encoding and locale, so the restore creates a compatible database. */
  databaseOptions: z.object({ encoding: z.string(), collate: z.string(), ctype: z.string() }),
  dump: z.object({
    tool: z.literal('pg_dump'),
    version: z.string(),
    format: z.literal('directory'),
    /** pg_dump --compress value, e.g. `gzip:1` or `zstd:3`. */
    compression: z.string(),
    jobs: z.number().int().positive(),
    /** The exported snapshot the dump and every count were taken in. */
    snapshot: z.string(),
  }),
  extensions: z.array(z.object({ name: z.string(), version: z.string(), schema: z.string() })),
  /** Every stored file of the backup except the manifest itself. */
  files: z.array(ManifestFileSchema),
  /** pg_dumpall --globals-only output (roles, tablespaces), when it could be taken. */
  globals: z
    .object({ path: z.string(), rolePasswords: z.boolean() })
    .nullable(),
  tables: z.array(TableSchema),
  sequences: z.array(SequenceSchema),
  /** Present when the database has the timescaledb extension. */
  timescale: TimescaleSchema.optional(),
  totals: z.object({
    files: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    rows: z.number().int().nonnegative(),
  }),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestFile = z.infer<typeof ManifestFileSchema>;
export type ManifestTable = z.infer<typeof TableSchema>;
export type ManifestTimescale = z.infer<typeof TimescaleSchema>;
