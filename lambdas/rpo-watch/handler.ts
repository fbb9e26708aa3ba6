/**
 * RPO watch, started every minute by EventBridge: how old are the newest archived WAL segment and
 * the newest pgBackRest backups? Emits their ages as one Embedded Metric Format document; the
 * alarms (lib/constructs/rpo-watch.ts) fire on too old and on missing data, so a repository that
 * is unreachable, empty or not archiving at all alarms as well.
 */
import { z } from 'zod';
import { Metrics, RpoWatchEnv } from '../../core/contract.ts';
import { pitrStatus } from '../../core/pitr/rpo.ts';
import { openRepository } from '../../core/repository/index.ts';
import { readEnv, repositoryUrl, required } from '../shared/env.ts';
import {
  type MetricValue,
  type Observability,
  observability,
  publishMetrics,
  startInvocation,
} from '../shared/observability.ts';

const EnvSchema = z.object({
  [RpoWatchEnv.repo]: repositoryUrl('pgBackRest repository URL'),
  [RpoWatchEnv.stanza]: required,
});

/** An EventBridge scheduled event, or `{}` for a manual `aws lambda invoke`. */
const EventSchema = z.object({ 'detail-type': z.literal('Scheduled Event').optional() }).loose();

export interface RpoWatchResult {
  readonly stanza: string;
  readonly walArchiveAgeSeconds?: number;
  readonly walSegment?: string;
  /** The timeline the primary is writing (of the newest segment stored). */
  readonly walTimeline?: number;
  /** Segments missing inside that timeline's archive. */
  readonly walArchiveGaps?: number;
  readonly baseBackupAgeSeconds?: number;
  readonly baseBackupLabel?: string;
  readonly fullBackupAgeSeconds?: number;
}

export interface RpoWatchDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly observability: Observability;
}

export function createHandler(deps: RpoWatchDeps): (event: unknown, context?: unknown) => Promise<RpoWatchResult> {
  // Read when the handler is made (at load): a misconfigured function fails at start-up.
  const env = readEnv(EnvSchema, deps.env);
  const repository = openRepository(env[RpoWatchEnv.repo]);
  const stanza = env[RpoWatchEnv.stanza];
  const { logger, metrics } = deps.observability;
  return async (event, context) => {
    startInvocation(logger, event, context);
    EventSchema.parse(event ?? {});
    const status = await pitrStatus(repository, stanza);
    const values: MetricValue[] = [];
    const missing = status.wal?.gaps.reduce((n, g) => n + g.missing, 0);
    if (status.wal) values.push({ name: Metrics.walArchiveAgeSeconds, value: status.wal.ageSeconds, unit: 'Seconds' });
    if (status.baseBackup)
      values.push({ name: Metrics.baseBackupAgeSeconds, value: status.baseBackup.ageSeconds, unit: 'Seconds' });
    if (status.fullBackup)
      values.push({ name: Metrics.fullBackupAgeSeconds, value: status.fullBackup.ageSeconds, unit: 'Seconds' });
    if (missing !== undefined) values.push({ name: Metrics.walArchiveGaps, value: missing, unit: 'Count' });
    publishMetrics(metrics, { [Metrics.stanzaDimension]: stanza }, values, status.checkedAt);
    const result: RpoWatchResult = {
      stanza,
      walArchiveAgeSeconds: status.wal?.ageSeconds,
      walSegment: status.wal?.segment,
      walTimeline: status.wal?.timeline,
      walArchiveGaps: missing,
      baseBackupAgeSeconds: status.baseBackup?.ageSeconds,
      baseBackupLabel: status.baseBackup?.label,
      fullBackupAgeSeconds: status.fullBackup?.ageSeconds,
    };
    if (status.wal && status.wal.gaps.length > 0) {
      logger.warn(
        `pgBackRest stanza ${stanza} in ${repository.url}: ${missing} WAL segment(s) missing on timeline ${status.wal.timeline}: ${status.wal.gaps.map((g) => `after ${g.after} (${g.missing})`).join(', ')}; recovery cannot pass the first gap`,
        { hint: 'run dr pitr check for the recoverable window, and take a new full backup on the database host' },
      );
    }
    if (!status.wal || !status.baseBackup) {
      // No metric means missing data: the alarms fire. Say why in the log.
      logger.warn(
        `pgBackRest stanza ${stanza} in ${repository.url} has ${status.wal ? '' : 'no archived WAL segment'}${!status.wal && !status.baseBackup ? ' and ' : ''}${status.baseBackup ? '' : 'no complete backup'}`,
        {
          hint: 'run `pgbackrest --stanza=<stanza> check` on the database host, and check the repository URL of the RPO watch',
        },
      );
    }
    return result;
  };
}

export function defaultDeps(): RpoWatchDeps {
  return { env: process.env, observability: observability('rpo-watch') };
}

export const handler = createHandler(defaultDeps());
