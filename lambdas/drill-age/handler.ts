/**
 * Drill age, started daily by EventBridge: days since each database's newest drill report, printed
 * as Embedded Metric Format lines (`DaysSinceLastDrill`, one per database), and the age of each
 * database's newest verified backup (`VerifiedBackupAgeHours`, the one under Legal Hold). A database never
 * drilled gets no datapoint, and its alarm treats missing data as breaching.
 */
import { z } from 'zod';
import { DrillAgeEnv, Metrics } from '../../core/contract.ts';
import { type DrillAge, drillAges } from '../../core/drill/age.ts';
import { emfLine } from '../../core/emf.ts';
import { openRepository } from '../../core/repository/index.ts';
import { newestVerifiedBackup } from '../../core/repository/verified-hold.ts';

const env = z
  .object({
    [DrillAgeEnv.repo]: z.string().regex(/^(s3|file):\/\//, 'an s3:// or file:// repository URL'),
    [DrillAgeEnv.databases]: z.string().transform((s, ctx) => {
      try {
        return z.array(z.string().min(1)).min(1).parse(JSON.parse(s));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'a JSON array of database names' });
        return z.NEVER;
      }
    }),
  })
  .parse(process.env);

const repository = openRepository(env[DrillAgeEnv.repo]);

/** An EventBridge scheduled event, or `{}` for a manual `aws lambda invoke`. */
const eventSchema = z.object({ 'detail-type': z.literal('Scheduled Event').optional() }).loose();

export async function handler(event: unknown): Promise<DrillAge[]> {
  eventSchema.parse(event ?? {});
  const now = new Date();
  const ages = await drillAges(repository, env[DrillAgeEnv.databases], now);
  for (const age of ages) {
    if (age.days === undefined) continue;
    console.log(
      emfLine(
        Metrics.namespace,
        { [Metrics.dimension]: age.database },
        [{ name: Metrics.daysSinceLastDrill, value: age.days, unit: 'None' }],
        now,
      ),
    );
  }
  // The newest verified backup (under Legal Hold) and its age, daily, for the 8-day alarm; none held: no datapoint (breaching).
  for (const database of env[DrillAgeEnv.databases]) {
    try {
      const verified = await newestVerifiedBackup(repository, database, now);
      if (verified)
        console.log(
          emfLine(
            Metrics.namespace,
            { [Metrics.dimension]: database },
            [{ name: Metrics.verifiedBackupAgeHours, value: verified.ageHours, unit: 'None' }],
            now,
          ),
        );
    } catch (err) {
      console.error(`newest verified backup of ${database}: ${(err as Error).message}`);
    }
  }
  return ages;
}
