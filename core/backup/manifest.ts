import { z } from 'zod';
import { TIERS } from '../repository/tiers.ts';
import { DatabasePropertiesSchema } from '../verify/database-properties.ts';

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
  hypertables: z.array(
    relationName.extend({
      timeColumn: z.string().nullable(),
      compressionEnabled: z.boolean(),
      chunks: z.array(TimescaleChunkSchema),
    }),
  ),
  continuousAggregates: z.array(
    relationName.extend({ rows: z.number().int().nonnegative(), materializedOnly: z.boolean() }),
  ),
  /** Users' jobs (policies and custom jobs); TimescaleDB's own (ids below 1000) are left out. */
  jobs: z.array(
    z.object({
      id: z.number().int(),
      proc: z.string(),
      hypertable: z.string().nullable(),
      scheduleInterval: z.string(),
      scheduled: z.boolean(),
      config: z.string().nullable(),
      /** When it was next due at backup time (its statistics, which a dump does not hold): a restore keeps that schedule. */
      nextStart: z.string().nullable(),
    }),
  ),
});

const u32 = z.number().int().nonnegative();

/** Content fingerprints of one dumped relation (a table, partition, chunk or compressed chunk): core/backup/fingerprint.ts. */
export const FingerprintRelationSchema = relationName.extend({
  /** The manifest table whose rows these are (`schema.name` as in SQL): itself, its partitioned parent, its hypertable. */
  table: z.string(),
  /** The COPY column list, as pg_dump wrote it. */
  columns: z.array(z.string()),
  /** The column whose UTC day is the bucket, or null (one bucket `*`). */
  timeColumn: z.string().nullable(),
  /** Bucket → [rows, lane-1 sum, lane-2 sum]. */
  buckets: z.record(z.string(), z.tuple([u32, u32, u32])),
});

export const FingerprintsSchema = z.object({
  algorithm: z.string(),
  relations: z.array(FingerprintRelationSchema),
  /** Manifest tables whose content was not fingerprinted, and why (verify checks their counts only). */
  skipped: z.array(z.object({ table: z.string(), reason: z.string() })),
});

/** The schema's shape beyond tables and indexes (core/backup/catalog.ts schemaObjects), compared by verify. */
export const SchemaObjectsSchema = z.object({
  columns: z.array(
    z.object({
      table: z.string(),
      name: z.string(),
      shape: z.object({
        type: z.string(),
        notNull: z.boolean(),
        default: z.string().nullable(),
        generated: z.string(),
        collation: z.string().nullable(),
      }),
    }),
  ),
  triggers: z.array(z.object({ table: z.string(), name: z.string(), definition: z.string() })),
  routines: z.array(z.object({ name: z.string(), kind: z.string(), sha256: sha256Hex })),
  enums: z.array(z.object({ name: z.string(), labels: z.array(z.string()) })),
  views: z.array(z.object({ name: z.string(), kind: z.string(), sha256: sha256Hex })),
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
    /**
     * The stored data files' compression, e.g. `gzip:1`: dr gzips pg_dump's uncompressed output
     * (older backups: pg_dump's own --compress value, e.g. `zstd:3`).
     */
    compression: z.string(),
    jobs: z.number().int().positive(),
    /** The exported snapshot the dump and every count were taken in. */
    snapshot: z.string(),
  }),
  extensions: z.array(z.object({ name: z.string(), version: z.string(), schema: z.string() })),
  /** Every stored file of the backup except the manifest itself. */
  files: z.array(ManifestFileSchema),
  /** pg_dumpall --globals-only output (roles, tablespaces), when it could be taken. */
  globals: z.object({ path: z.string(), rolePasswords: z.boolean() }).nullable(),
  tables: z.array(TableSchema),
  sequences: z.array(SequenceSchema),
  /** Present when the database has the timescaledb extension. */
  timescale: TimescaleSchema.optional(),
  /** Columns, triggers, routines, enums and views, in the dump's snapshot (absent in older backups). */
  schema: SchemaObjectsSchema.optional(),
  /** Content fingerprints taken from the dump's own data; absent with --no-fingerprints and in older backups (verify then checks counts only). */
  fingerprints: FingerprintsSchema.optional(),
  /** Owner, privileges, comment, connection limit and settings of the database itself (absent in older backups). */
  databaseProperties: DatabasePropertiesSchema.optional(),
  /** Set when this backup shrank against the previous one beyond the threshold (core/backup/suspect.ts); `latest` skips it. */
  suspect: z.object({ previous: z.string(), reasons: z.array(z.string()) }).optional(),
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
export type ManifestFingerprints = z.infer<typeof FingerprintsSchema>;
