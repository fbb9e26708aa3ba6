import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { Metrics, RpoWatchEnv } from '../../core/contract.ts';
import { STANZA_NAME } from '../../core/names.ts';
import { DrFunction } from './function.ts';
import type { PitrRepository } from './pitr-repository.ts';

export interface RpoWatchProps {
  /** The pgBackRest repository watched. */
  readonly repository: PitrRepository;
  /** The pgBackRest stanza (one per database cluster), e.g. crypto_stock. */
  readonly stanza: string;
  /** Topic the alarms notify. */
  readonly alarmTopic: sns.ITopic;
  /**
   * Recovery point objective: the alarm fires when the newest archived WAL segment is older.
   * Keep it above the host's `archive_timeout` plus the archiving time.
   * @default Duration.minutes(5)
   */
  readonly rpo?: Duration;
  /**
   * The alarm fires when the newest complete base backup (full or differential) is older.
   * @default Duration.days(8) - a weekly full plus one day of slack
   */
  readonly baseBackupMaxAge?: Duration;
  /**
   * How often the repository is checked.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
}

/**
 * The RPO watch: a scheduled Lambda (lambdas/rpo-watch) that prints the ages of the newest
 * archived WAL segment and base backup as EMF metrics, and alarms when either is too old or
 * missing. Missing data breaches: a host that stopped archiving, a repository the Lambda cannot
 * read and a Lambda that fails all look the same from here, and all put the RPO at risk.
 */
export class RpoWatch extends Construct {
  public readonly function: DrFunction;
  public readonly rule: events.Rule;
  public readonly walArchiveAge: cloudwatch.Metric;
  public readonly baseBackupAge: cloudwatch.Metric;
  public readonly walTooOldAlarm: cloudwatch.Alarm;
  public readonly baseBackupTooOldAlarm: cloudwatch.Alarm;
  /** Segments missing inside the archive of the timeline being written (the rpo-watch continuity check). */
  public readonly walGapAlarm: cloudwatch.Alarm;
  /** The server's archive_command failing (pg_stat_archiver), pushed by the host schedule dr pitr config prints. */
  public readonly archiverFailingAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RpoWatchProps) {
    super(scope, id);
    const where = `RpoWatch ${this.node.path}`;
    if (!STANZA_NAME.test(props.stanza)) {
      throw new Error(
        `${where}: stanza "${props.stanza}" is not a pgBackRest stanza name; use letters, digits, _, - and . as in pgbackrest.conf (e.g. crypto_stock)`,
      );
    }
    const rpo = props.rpo ?? Duration.minutes(5);
    const interval = props.interval ?? Duration.minutes(1);
    const baseMax = props.baseBackupMaxAge ?? Duration.days(8);
    if (rpo.toSeconds() < 60 || rpo.toSeconds() > 86_400) {
      throw new Error(
        `${where}: rpo is ${rpo.toHumanString()}; use 1 minute to 1 day (WAL is archived at least every archive_timeout)`,
      );
    }
    if (interval.toSeconds() < 60 || interval.toSeconds() > 300 || interval.toSeconds() % 60 !== 0) {
      throw new Error(
        `${where}: interval is ${interval.toHumanString()}; use whole minutes from 1 to 5, so a check lands in every 5-minute alarm period`,
      );
    }
    if (baseMax.toSeconds() < 86_400) {
      throw new Error(
        `${where}: baseBackupMaxAge is ${baseMax.toHumanString()}; use at least Duration.days(1) (backups run daily at most)`,
      );
    }

    this.function = new DrFunction(this, 'Function', {
      name: 'rpo-watch',
      description: `crypto-stock-dr: ages of the newest archived WAL and pgBackRest backup of stanza ${props.stanza}`,
      environment: { [RpoWatchEnv.repo]: props.repository.url, [RpoWatchEnv.stanza]: props.stanza },
      timeout: Duration.seconds(30),
      memorySize: 256,
    });
    props.repository.grantWatch(this.function);

    this.rule = new events.Rule(this, 'Schedule', {
      description: `crypto-stock-dr: RPO watch of pgBackRest stanza ${props.stanza}`,
      schedule: events.Schedule.rate(interval),
    });
    // A retry would only report a later age; the next scheduled run does that anyway.
    this.rule.addTarget(new targets.LambdaFunction(this.function, { retryAttempts: 0 }));

    const metric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: Metrics.namespace,
        metricName,
        dimensionsMap: { [Metrics.stanzaDimension]: props.stanza },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      });
    this.walArchiveAge = metric(Metrics.walArchiveAgeSeconds);
    this.baseBackupAge = metric(Metrics.baseBackupAgeSeconds);

    this.walTooOldAlarm = new cloudwatch.Alarm(this, 'WalArchiveTooOld', {
      alarmDescription: `No WAL of stanza ${props.stanza} archived for more than ${rpo.toSeconds()} s (the RPO), or no measurement: commits since then would be lost with the server. On the host: pgbackrest --stanza=${props.stanza} check; SELECT * FROM pg_stat_archiver. Also see the rpo-watch Lambda's log.`,
      metric: this.walArchiveAge,
      threshold: rpo.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.baseBackupTooOldAlarm = new cloudwatch.Alarm(this, 'BaseBackupTooOld', {
      alarmDescription: `No pgBackRest backup of stanza ${props.stanza} completed for more than ${baseMax.toDays()} days, or no measurement: restores replay ever more WAL and expire cannot free the archive. On the host: pgbackrest --stanza=${props.stanza} info, and the backup cron/compose service log.`,
      metric: this.baseBackupAge,
      threshold: baseMax.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.walGapAlarm = new cloudwatch.Alarm(this, 'WalArchiveGap', {
      alarmDescription: `WAL segments of stanza ${props.stanza} are missing inside the archive: recovery cannot go past the first gap. Run dr pitr check --pitr <repo> --stanza ${props.stanza} for the window, then take a full backup (pgbackrest --stanza=${props.stanza} --type=full backup).`,
      metric: metric(Metrics.walArchiveGaps),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No measurement is already WalArchiveTooOld's alarm.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.archiverFailingAlarm = new cloudwatch.Alarm(this, 'ArchiverFailing', {
      alarmDescription: `The archive_command of stanza ${props.stanza} is failing (pg_stat_archiver.last_failed_time after last_archived_time), or the host schedule from dr pitr config stopped reporting. A second writer (split brain) keeps WAL age fresh but fails here. On the host: SELECT * FROM pg_stat_archiver; the PostgreSQL log.`,
      metric: metric(Metrics.archiverFailing),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    for (const alarm of [
      this.walTooOldAlarm,
      this.baseBackupTooOldAlarm,
      this.walGapAlarm,
      this.archiverFailingAlarm,
    ]) {
      alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
      alarm.addOkAction(new actions.SnsAction(props.alarmTopic));
    }
  }
}
