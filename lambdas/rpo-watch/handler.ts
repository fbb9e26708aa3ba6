/**
 * RPO watch, started every minute by EventBridge: how old are the newest archived WAL segment and
 * the newest pgBackRest backups? Prints their ages as one Embedded Metric Format line; the alarms
 * (lib/constructs/pitr-monitoring.ts) fire on too old and on missing data, so a repository that
 * is unreachable, empty or not archiving at all alarms as well.
 */
import { z } from 'zod';
import { Metrics, RpoWatchEnv } from '../../core/contract.ts';
import { type EmfMetric, emfLine } from '../../core/emf.ts';
import { pitrStatus } from '../../core/pitr/rpo.ts';
import { openRepository } from '../../core/repository/index.ts';

const env = z
  .object({
    [RpoWatchEnv.repo]: z.string().regex(/^(s3|file):\/\//, 'an s3:// or file:// pgBackRest repository URL'),
    [RpoWatchEnv.stanza]: z.string().min(1),
  })
  .parse(process.env);

const repository = openRepository(env[RpoWatchEnv.repo]);
const stanza = env[RpoWatchEnv.stanza];

/** An EventBridge scheduled event, or `{}` for a manual `aws lambda invoke`. */
const eventSchema = z.object({ 'detail-type': z.literal('Scheduled Event').optional() }).loose();

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

export async function handler(event: unknown): Promise<RpoWatchResult> {
  eventSchema.parse(event ?? {});
  const status = await pitrStatus(repository, stanza);
  const metrics: EmfMetric[] = [];
  const missing = status.wal?.gaps.reduce((n, g) => n + g.missing, 0);
  if (status.wal) metrics.push({ name: Metrics.walArchiveAgeSeconds, value: status.wal.ageSeconds, unit: 'Seconds' });
  if (status.baseBackup)
    metrics.push({ name: Metrics.baseBackupAgeSeconds, value: status.baseBackup.ageSeconds, unit: 'Seconds' });
  if (status.fullBackup)
    metrics.push({ name: Metrics.fullBackupAgeSeconds, value: status.fullBackup.ageSeconds, unit: 'Seconds' });
  if (missing !== undefined) metrics.push({ name: Metrics.walArchiveGaps, value: missing, unit: 'Count' });
  const line = emfLine(Metrics.namespace, { [Metrics.stanzaDimension]: stanza }, metrics, status.checkedAt);
  if (line) console.log(line);
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
    console.warn(
      JSON.stringify({
        level: 'warn',
        message: `pgBackRest stanza ${stanza} in ${repository.url}: ${missing} WAL segment(s) missing on timeline ${status.wal.timeline}: ${status.wal.gaps.map((g) => `after ${g.after} (${g.missing})`).join(', ')}; recovery cannot pass the first gap`,
        hint: 'run dr pitr check for the recoverable window, and take a new full backup on the database host',
      }),
    );
  }
  if (!status.wal || !status.baseBackup) {
    // No metric means missing data: the alarms fire. Say why in the log.
    console.warn(
      JSON.stringify({
        level: 'warn',
        message: `pgBackRest stanza ${stanza} in ${repository.url} has ${status.wal ? '' : 'no archived WAL segment'}${!status.wal && !status.baseBackup ? ' and ' : ''}${status.baseBackup ? '' : 'no complete backup'}`,
        hint: 'run `pgbackrest --stanza=<stanza> check` on the database host, and check the repository URL of the RPO watch',
      }),
    );
  }
  return result;
}
