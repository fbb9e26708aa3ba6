import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DrillTrend, Metrics } from '../../core/contract.ts';
import { isValidRtoSeconds, MIN_RTO_SECONDS } from '../../core/names.ts';
import { AlarmTopic } from './alarm-topic.ts';

/** A CryptoStockDr metric of one database (`Metrics.dimension`). */
export function databaseMetric(
  metricName: string,
  database: string,
  options: { readonly statistic: string; readonly period: Duration; readonly label?: string },
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: Metrics.namespace,
    metricName,
    dimensionsMap: { [Metrics.dimension]: database },
    statistic: options.statistic,
    period: options.period,
    // Only for graphs: a labelled metric would turn an alarm into a metric-math one.
    label: options.label,
  });
}

/** Construct-id-safe form of a database name (ids are paths; keep them readable). */
function idOf(database: string): string {
  return database.replace(/[^A-Za-z0-9]/g, '_');
}

export interface BackupMonitoringProps {
  /** The backup workflow whose failures raise the alarm. */
  readonly backupStateMachine: sfn.IStateMachine;
  /** Databases the backup workflow backs up; each gets an RPO alarm on its `BackupSucceeded` metric. */
  readonly databases: readonly string[];
  /**
   * A database with no successful backup for this long is an RPO breach (daily backups plus slack).
   * At most 7 days (CloudWatch's longest alarm evaluation); a multiple of one minute.
   * @default Duration.hours(26)
   */
  readonly rpoWindow?: Duration;
  /**
   * Email address subscribed to the alarm topic (the recipient must confirm it).
   * @default - no subscription; subscribe to `topic` by other means
   */
  readonly alertEmail?: string;
}

/**
 * The alarm topic and the backup alarms: a failed backup execution, and per database an RPO breach
 * (no `BackupSucceeded` datapoint within `rpoWindow`, which the backup workflow emits after a
 * successful backup). The RPO alarm treats missing data as breaching: a database that was never
 * backed up, a stopped schedule, or a workflow that stopped emitting all alarm the same way.
 */
export class BackupMonitoring extends Construct {
  /** The alarm topic and its key. */
  public readonly alarmTopic: AlarmTopic;
  /** `alarmTopic.topic`. */
  public readonly topic: sns.Topic;
  /** `alarmTopic.key`. */
  public readonly topicKey: kms.Key;
  public readonly backupFailedAlarm: cloudwatch.Alarm;
  /** One per database, by database name. */
  public readonly rpoAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Per database: a backup attempt failed on a lock timeout (`BackupLockTimeouts`), even when its retry then succeeded. */
  public readonly lockTimeoutAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Per database: a backup was marked suspect, it shrank against the previous one (`BackupSuspect`). */
  public readonly suspectBackupAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: BackupMonitoringProps) {
    super(scope, id);
    if (props.alertEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alertEmail)) {
      throw new Error(
        `BackupMonitoring ${this.node.path}: alertEmail "${props.alertEmail}" is not an email address; pass e.g. ops@example.com or leave it out`,
      );
    }
    if (props.databases.length === 0)
      throw new Error(
        `BackupMonitoring ${this.node.path}: databases is empty; pass the backed-up database names (one RPO alarm each)`,
      );
    const rpoWindow = props.rpoWindow ?? Duration.hours(26);
    const rpoSeconds = rpoWindow.toSeconds();
    if (rpoSeconds % 60 !== 0 || rpoSeconds < 3600 || rpoSeconds > 7 * 86400) {
      throw new Error(
        `BackupMonitoring ${this.node.path}: rpoWindow is ${rpoSeconds} s; use whole minutes from 1 hour to 7 days (CloudWatch's longest alarm period)`,
      );
    }

    // 'Default': the topic and its key keep the logical IDs they had as this construct's own children.
    this.alarmTopic = new AlarmTopic(this, 'Default', { alertEmail: props.alertEmail });
    this.topic = this.alarmTopic.topic;
    this.topicKey = this.alarmTopic.key;

    this.backupFailedAlarm = executionFailedAlarm(
      this,
      'BackupFailed',
      props.backupStateMachine,
      'A backup execution failed: at least one database was not backed up. See the state machine execution and the job logs.',
    );
    this.backupFailedAlarm.addAlarmAction(new actions.SnsAction(this.topic));

    const rpoAlarms = new Map<string, cloudwatch.Alarm>();
    for (const database of props.databases) {
      // One period as long as the window: the sum is the number of successful backups in it.
      // FILL(…, 0): an empty window counts as 0 at once. With the plain metric, CloudWatch would
      // evaluate the newest real datapoint of its wider evaluation range (an earlier window's
      // backup) and apply TreatMissingData only once every window in that range is empty: days late.
      const backups = databaseMetric(Metrics.backupSucceeded, database, {
        statistic: cloudwatch.Stats.SUM,
        period: rpoWindow,
      });
      const alarm = new cloudwatch.Alarm(this, `RpoBreach_${idOf(database)}`, {
        alarmDescription:
          `RPO breach: no successful backup of ${database} in ${rpoWindow.toHumanString()} (metric ${Metrics.namespace} ${Metrics.backupSucceeded}, missing data counts). ` +
          'Check the backup workflow executions and the job logs; a new deployment stays in alarm until the first backup.',
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(backups, 0)',
          usingMetrics: { backups },
          period: rpoWindow,
          label: `Successful backups of ${database} in ${rpoWindow.toHumanString()}`,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
      rpoAlarms.set(database, alarm);
    }
    this.rpoAlarms = rpoAlarms;

    // Both metrics are emitted only when it happens: no data is no event.
    const anyIn = (metricName: string, database: string, id: string, description: string) => {
      const alarm = new cloudwatch.Alarm(this, `${id}_${idOf(database)}`, {
        alarmDescription: description,
        metric: databaseMetric(metricName, database, { statistic: cloudwatch.Stats.SUM, period: Duration.hours(1) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
      return alarm;
    };
    this.lockTimeoutAlarms = new Map(
      props.databases.map((database) => [
        database,
        anyIn(
          Metrics.backupLockTimeouts,
          database,
          'BackupLockTimeout',
          `A backup of ${database} waited longer than its lock timeout for another session's lock (metric ${Metrics.backupLockTimeouts}). ` +
            'The workflow retries once; if the retry failed too, BackupFailed fires as well. The job log names the blocking session (pid, application, query start).',
        ),
      ]),
    );
    this.suspectBackupAlarms = new Map(
      props.databases.map((database) => [
        database,
        anyIn(
          Metrics.backupSuspect,
          database,
          'BackupSuspect',
          `A backup of ${database} is SUSPECT: a table is gone, or rows or bytes fell by more than half against the previous backup (metric ${Metrics.backupSuspect}). ` +
            'restore and drill --backup latest skip it; check the source database (dr list shows the reasons), then take it with --backup latest-any if the shrink was intended.',
        ),
      ]),
    );
  }
}

export interface DrillMonitoringProps {
  /** Where the alarms notify (BackupMonitoring's topic). */
  readonly topic: sns.ITopic;
  /** The drill workflow; a failed execution alarms (e.g. a drill that could not even report). */
  readonly drillStateMachine: sfn.IStateMachine;
  /** Drilled databases; each gets its drill alarms. */
  readonly databases: readonly string[];
  /** The recovery time objective in seconds; a drill's `RestoreSeconds` above it alarms. */
  readonly rtoSeconds: number;
  /**
   * A database whose newest drill report is older than this many days alarms (the drill-age
   * Lambda emits `DaysSinceLastDrill` daily; missing data counts, so a broken watch alarms too).
   * @default 35 - a monthly drill plus slack
   */
  readonly maxDaysBetweenDrills?: number;
  /**
   * Alarm when a database's newest verified backup (under Legal Hold after a passed drill or
   * `dr check --hold`) started longer ago than this many days, or none is known.
   * @default 8
   */
  readonly maxVerifiedBackupAgeDays?: number;
}

/**
 * Drill alarms, per database: the drill failed (`DrillPassed` < 1), the RTO was exceeded
 * (`RestoreSeconds` > RTO), no drill for `maxDaysBetweenDrills` days; and any failed drill execution.
 */
export class DrillMonitoring extends Construct {
  public readonly drillExecutionFailedAlarm: cloudwatch.Alarm;
  public readonly drillFailedAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  public readonly rtoExceededAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  public readonly noRecentDrillAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** The restore time is trending towards the RTO: medians up more than 20%, or the RTO within 90 days at today's rate. */
  public readonly restoreTrendAlarms: ReadonlyMap<string, cloudwatch.Alarm[]>;
  /** The newest verified backup (Legal Hold) is older than maxVerifiedBackupAgeDays, or missing. */
  public readonly verifiedBackupAgeAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** A drill report was written unsigned because KMS refused or failed to sign it. */
  public readonly reportUnsignedAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: DrillMonitoringProps) {
    super(scope, id);
    if (props.databases.length === 0)
      throw new Error(`DrillMonitoring ${this.node.path}: databases is empty; pass the drilled database names`);
    if (!isValidRtoSeconds(props.rtoSeconds)) {
      throw new Error(
        `DrillMonitoring ${this.node.path}: rtoSeconds is ${props.rtoSeconds}; use whole seconds >= ${MIN_RTO_SECONDS} (config "rtoSeconds", e.g. 3600 for critical)`,
      );
    }
    const maxDays = props.maxDaysBetweenDrills ?? 35;
    if (!Number.isInteger(maxDays) || maxDays < 1) {
      throw new Error(`DrillMonitoring ${this.node.path}: maxDaysBetweenDrills is ${maxDays}; use whole days >= 1`);
    }
    const notify = new actions.SnsAction(props.topic);
    // Drill metrics arrive once a month: a day-long period keeps each drill's datapoint in view
    // for a day, and missing data (no drill today) is simply not evaluated.
    const day = Duration.days(1);

    this.drillExecutionFailedAlarm = executionFailedAlarm(
      this,
      'DrillExecutionFailed',
      props.drillStateMachine,
      'A drill execution failed (it could not restore, verify or report). See the drill state machine execution.',
    );
    this.drillExecutionFailedAlarm.addAlarmAction(notify);

    const failed = new Map<string, cloudwatch.Alarm>();
    const rto = new Map<string, cloudwatch.Alarm>();
    const stale = new Map<string, cloudwatch.Alarm>();
    for (const database of props.databases) {
      const dbId = idOf(database);
      failed.set(
        database,
        new cloudwatch.Alarm(this, `DrillFailed_${dbId}`, {
          alarmDescription: `The restore drill of ${database} FAILED: see reports/drills/<date>/${database}.html in the vault for the failed checks.`,
          metric: databaseMetric(Metrics.drillPassed, database, { statistic: cloudwatch.Stats.MINIMUM, period: day }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      rto.set(
        database,
        new cloudwatch.Alarm(this, `RtoExceeded_${dbId}`, {
          alarmDescription: `RTO exceeded: the drill restore of ${database} took longer than ${props.rtoSeconds} s. See the drill report's phase durations.`,
          metric: databaseMetric(Metrics.restoreSeconds, database, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: day,
          }),
          threshold: props.rtoSeconds,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      // CloudWatch cannot evaluate 35 days at once (7 at most), hence the daily age metric.
      stale.set(
        database,
        new cloudwatch.Alarm(this, `NoRecentDrill_${dbId}`, {
          alarmDescription: `No restore drill of ${database} in ${maxDays} days (metric ${Metrics.daysSinceLastDrill}, missing data counts: never drilled, or the drill-age Lambda stopped). Start a drill by hand (README).`,
          metric: databaseMetric(Metrics.daysSinceLastDrill, database, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: day,
          }),
          threshold: maxDays,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
      );
    }
    const trend = new Map<string, cloudwatch.Alarm[]>();
    for (const database of props.databases) {
      const dbId = idOf(database);
      // Both metrics come with a drill (monthly) and only when there is enough history: missing data is no trend.
      trend.set(database, [
        new cloudwatch.Alarm(this, `RestoreTrendGrowth_${dbId}`, {
          alarmDescription: `Drill restores of ${database} are getting slower: the median of the last three is more than ${DrillTrend.growthAlarmPercent}% above the three before. See the drill report's trend; act before the RTO is at risk.`,
          metric: databaseMetric(Metrics.restoreTrendGrowthPercent, database, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: day,
          }),
          threshold: DrillTrend.growthAlarmPercent,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        new cloudwatch.Alarm(this, `RtoWithinHorizon_${dbId}`, {
          alarmDescription: `At the last 12 months' rate, drill restores of ${database} reach the RTO (${props.rtoSeconds} s) within ${DrillTrend.rtoHorizonDays} days. See the drill report's trend.`,
          metric: databaseMetric(Metrics.daysUntilRto, database, { statistic: cloudwatch.Stats.MINIMUM, period: day }),
          threshold: DrillTrend.rtoHorizonDays,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ]);
    }
    const verifiedDays = props.maxVerifiedBackupAgeDays ?? 8;
    if (!(verifiedDays > 0))
      throw new Error(
        `DrillMonitoring ${this.node.path}: maxVerifiedBackupAgeDays is ${verifiedDays}; use a number of days > 0`,
      );
    const verified = new Map<string, cloudwatch.Alarm>();
    for (const database of props.databases) {
      // Daily from the drill-age Lambda (and with each drill report): missing means nothing verified is held, or the watch stopped.
      verified.set(
        database,
        new cloudwatch.Alarm(this, `VerifiedBackupTooOld_${idOf(database)}`, {
          alarmDescription: `The newest verified backup of ${database} (under S3 Legal Hold, metric ${Metrics.verifiedBackupAgeHours}) is older than ${verifiedDays} days, or none is held (missing data counts). Run a drill or dr check --backup latest --hold (README "The newest verified backup").`,
          metric: databaseMetric(Metrics.verifiedBackupAgeHours, database, {
            statistic: cloudwatch.Stats.MINIMUM,
            period: day,
          }),
          threshold: verifiedDays * 24,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
      );
    }
    this.verifiedBackupAgeAlarms = verified;
    const unsigned = new Map<string, cloudwatch.Alarm>();
    for (const database of props.databases) {
      // Emitted only when a report could not be signed: missing data is a signed report (or no drill).
      unsigned.set(
        database,
        new cloudwatch.Alarm(this, `ReportUnsigned_${idOf(database)}`, {
          alarmDescription: `The drill report of ${database} could not be signed with the KMS key and was written unsigned (its 'unsigned' field says why): it is not evidence an auditor can check. Fix the key or the report Lambda's kms:Sign permission.`,
          metric: databaseMetric(Metrics.reportUnsigned, database, {
            statistic: cloudwatch.Stats.MAXIMUM,
            period: day,
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    this.reportUnsignedAlarms = unsigned;
    for (const alarm of [
      ...failed.values(),
      ...rto.values(),
      ...stale.values(),
      ...[...trend.values()].flat(),
      ...verified.values(),
      ...unsigned.values(),
    ])
      alarm.addAlarmAction(notify);
    this.restoreTrendAlarms = trend;
    this.drillFailedAlarms = failed;
    this.rtoExceededAlarms = rto;
    this.noRecentDrillAlarms = stale;
  }
}

export interface DrDashboardProps {
  readonly databases: readonly string[];
  readonly rtoSeconds: number;
  readonly backupStateMachine: sfn.IStateMachine;
  readonly drillStateMachine: sfn.IStateMachine;
  /**
   * Dashboard name.
   * @default - generated by CloudFormation
   */
  readonly dashboardName?: string;
}

/** One page: backups per day, backup age and restore time (against the RTO) at drills, drill results, workflow executions. */
export class DrDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DrDashboardProps) {
    super(scope, id);
    const per = (name: string, statistic: string, period: Duration) =>
      props.databases.map((db) => databaseMetric(name, db, { statistic, period, label: db }));
    const day = Duration.days(1);
    const executions = (label: string, machine: sfn.IStateMachine) => [
      machine.metricStarted({ period: day, statistic: cloudwatch.Stats.SUM, label: `${label} started` }),
      machine.metricSucceeded({ period: day, statistic: cloudwatch.Stats.SUM, label: `${label} succeeded` }),
      machine.metricFailed({ period: day, statistic: cloudwatch.Stats.SUM, label: `${label} failed` }),
    ];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(90),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Successful backups per day',
            left: per(Metrics.backupSucceeded, cloudwatch.Stats.SUM, day),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Age of the drilled backup (hours)',
            left: per(Metrics.backupAgeHours, cloudwatch.Stats.MAXIMUM, day),
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Drill restore time vs RTO (seconds)',
            left: per(Metrics.restoreSeconds, cloudwatch.Stats.MAXIMUM, day),
            leftAnnotations: [
              { value: props.rtoSeconds, label: `RTO ${props.rtoSeconds} s`, color: cloudwatch.Color.RED },
            ],
            leftYAxis: { min: 0 },
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Drill passed (1) / failed (0)',
            left: per(Metrics.drillPassed, cloudwatch.Stats.MINIMUM, day),
            leftYAxis: { min: 0, max: 1 },
            width: 6,
          }),
          new cloudwatch.SingleValueWidget({
            title: 'Days since last drill',
            metrics: per(Metrics.daysSinceLastDrill, cloudwatch.Stats.MAXIMUM, day),
            width: 6,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Backup workflow executions',
            left: executions('backup', props.backupStateMachine),
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Drill workflow executions',
            left: executions('drill', props.drillStateMachine),
            width: 12,
          }),
        ],
      ],
    });
  }
}

/**
 * Alarms on executions of `stateMachine` that timed out or were aborted: neither counts as failed,
 * so without these a stuck restore or a cancelled drill would stay silent.
 */
export function executionStoppedAlarms(
  scope: Construct,
  id: string,
  stateMachine: sfn.IStateMachine,
  topic: sns.ITopic,
): cloudwatch.Alarm[] {
  const alarms = [
    [
      'TimedOut',
      stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      'timed out',
    ],
    [
      'Aborted',
      stateMachine.metricAborted({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      'was aborted',
    ],
  ] as const;
  return alarms.map(([suffix, metric, what]) => {
    const alarm = new cloudwatch.Alarm(scope, `${id}${suffix}`, {
      alarmDescription: `An execution of ${id} ${what} (Step Functions Executions${suffix}); see its execution history. A restore may have been left half done, a drill's scratch database is dropped by the cleanup rule.`,
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(topic));
    return alarm;
  });
}

/** Fires on any failed execution of `stateMachine` in a 5-minute period; no executions is fine. */
function executionFailedAlarm(
  scope: Construct,
  id: string,
  stateMachine: sfn.IStateMachine,
  description: string,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    metric: stateMachine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
