/**
 * The parts every `dr restore --json` result shares (full, tables/range, point in time), each stated
 * once as a schema: the restores build their results with these types, and the state machine's
 * summary (summary.ts) parses the job's recorded result with the same schemas.
 */
import { z } from 'zod';

/** The backup a restore used. */
export const BackupRefSchema = z.object({
  id: z.string(),
  database: z.string(),
  tier: z.string(),
  startedAt: z.string(),
});
export type BackupRef = Readonly<z.infer<typeof BackupRefSchema>>;

/** A newer backup that failed verification and was skipped (only with `latest`). */
export const FallbackSchema = z.object({ id: z.string(), reason: z.string() });
export type FallbackRecord = Readonly<z.infer<typeof FallbackSchema>>;

/** One table a table, range or point-in-time restore put back, as the summary reads it. */
export const TableOutcomeSchema = z.looseObject({
  table: z.string(),
  rowsReplaced: z.number(),
  rowsRestored: z.number(),
  safetyTable: z.string().nullable(),
});

/** A restored time range: rows with since <= time < until. */
export const RangeSchema = z.object({ since: z.string(), until: z.string() });
export type RestoredRange = Readonly<z.infer<typeof RangeSchema>>;
