/**
 * Drill age, started daily by EventBridge: days since each database's newest drill report, as the
 * metric `DaysSinceLastDrill` (one EMF document per database), and the age of each database's
 * newest verified backup (`VerifiedBackupAgeHours`, the one under Legal Hold). A database never
 * drilled gets no datapoint, and its alarm treats missing data as breaching.
 */
import { z } from 'zod';
import { DrillAgeEnv, Metrics } from '../../core/contract.ts';
import { type DrillAge, drillAges } from '../../core/drill/age.ts';
import { openRepository } from '../../core/repository/index.ts';
import { newestVerifiedBackup } from '../../core/repository/verified-hold.ts';
import { json, readEnv, repositoryUrl } from '../shared/env.ts';
import { type Observability, observability, publishMetrics, startInvocation } from '../shared/observability.ts';

const EnvSchema = z.object({
  [DrillAgeEnv.repo]: repositoryUrl('repository URL'),
  [DrillAgeEnv.databases]: json(z.array(z.string().min(1)).min(1), 'a JSON array of database names'),
});

/** An EventBridge scheduled event, or `{}` for a manual `aws lambda invoke`. */
const EventSchema = z.object({ 'detail-type': z.literal('Scheduled Event').optional() }).loose();

export interface DrillAgeDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly observability: Observability;
}

export function createHandler(deps: DrillAgeDeps): (event: unknown, context?: unknown) => Promise<DrillAge[]> {
  // Read when the handler is made (at load): a misconfigured function fails at start-up.
  const env = readEnv(EnvSchema, deps.env);
  const repository = openRepository(env[DrillAgeEnv.repo]);
  const { logger, metrics } = deps.observability;
  return async (event, context) => {
    startInvocation(logger, event, context);
    EventSchema.parse(event ?? {});
    const now = new Date();
    const ages = await drillAges(repository, env[DrillAgeEnv.databases], now);
    for (const age of ages) {
      if (age.days === undefined) continue;
      publishMetrics(
        metrics,
        { [Metrics.dimension]: age.database },
        [{ name: Metrics.daysSinceLastDrill, value: age.days, unit: 'None' }],
        now,
      );
    }
    // The newest verified backup (under Legal Hold) and its age, daily, for the 8-day alarm; none held: no datapoint (breaching).
    for (const database of env[DrillAgeEnv.databases]) {
      try {
        const verified = await newestVerifiedBackup(repository, database, now);
        if (verified)
          publishMetrics(
            metrics,
            { [Metrics.dimension]: database },
            [{ name: Metrics.verifiedBackupAgeHours, value: verified.ageHours, unit: 'None' }],
            now,
          );
      } catch (err) {
        logger.error(`newest verified backup of ${database}: ${(err as Error).message}`);
      }
    }
    return ages;
  };
}

export function defaultDeps(): DrillAgeDeps {
  return { env: process.env, observability: observability('drill-age') };
}

export const handler = createHandler(defaultDeps());
