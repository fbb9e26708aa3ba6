import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { secretEnvVarFor } from '../../../core/contract.ts';
import { TIERS } from '../../../core/repository/tiers.ts';
import { type DatabaseTarget, validateDatabaseTargets } from '../database-target.ts';
import { DatabaseBackup } from './database-backup.ts';
import { absent, failWithCause, type JobTask, validateJobTask, workflowStateMachine } from './job-task.ts';

export interface BackupWorkflowProps {
  /** Where `dr backup` runs: the job's backup part (`DrJob.backup`). */
  readonly task: JobTask;
  /** Databases backed up by every execution, in this order; baked into the definition. */
  readonly databases: readonly DatabaseTarget[];
  /**
   * Databases backed up at the same time.
   * @default 2
   */
  readonly maxConcurrency?: number;
  /**
   * Longest one database's backup task may run before it counts as failed.
   * @default Duration.hours(6)
   */
  readonly taskTimeout?: Duration;
  /**
   * How long after a backup that failed on a lock timeout its one retry starts (the session holding
   * the lock, e.g. a migration or an ETL job, gets that long to finish).
   * @default Duration.minutes(10)
   */
  readonly lockRetryInterval?: Duration;
  /**
   * Longest a whole execution may run.
   * @default Duration.hours(23) - finishes before the next daily run
   */
  readonly timeout?: Duration;
  /**
   * Retention of the execution log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** What the workflow puts in its Map, per database (a Pass state's Result). */
export interface WorkflowDatabaseItem {
  readonly name: string;
  readonly host: string;
  /** A string, because it becomes an ECS environment value. */
  readonly port: string;
  readonly secretEnv: string;
}

/**
 * The nightly backup: one Fargate task per database, a bounded number at a time. A database's
 * failure (task error or non-zero exit) is recorded and the others continue; the execution then
 * fails naming every failed database, or succeeds with a summary. A backup that failed on a lock
 * timeout (JobExit.lockTimeout) is retried once; each lock timeout and each suspect backup
 * (JobExit.backupSuspect) emits a metric that BackupMonitoring alarms on.
 *
 * Input: `{}` or `{ "tier": "daily" | "weekly" | "monthly" }` (absent: the job picks by date).
 */
export class BackupWorkflow extends Construct {
  /** Name of the ECS task state, e.g. for local test overrides. */
  public static readonly RUN_TASK_STATE = DatabaseBackup.RUN_TASK_STATE;
  /** Name of the state that emits `Metrics.backupSucceeded` for a database, e.g. for local test overrides. */
  public static readonly METRIC_STATE = DatabaseBackup.METRIC_STATE;
  /** Name of the state that emits `Metrics.backupLockTimeouts` for a database. */
  public static readonly LOCK_TIMEOUT_METRIC_STATE = DatabaseBackup.LOCK_TIMEOUT_METRIC_STATE;
  /** Name of the state that emits `Metrics.backupSuspect` for a database. */
  public static readonly SUSPECT_METRIC_STATE = DatabaseBackup.SUSPECT_METRIC_STATE;
  /** The state retried once when the backup failed on a lock timeout (it runs the task and judges its exit code). */
  public static readonly ATTEMPT_STATE = DatabaseBackup.ATTEMPT_STATE;
  /** Error of an attempt whose job exited JobExit.lockTimeout; the attempt is retried once on it. */
  public static readonly LOCK_TIMEOUT_ERROR = DatabaseBackup.LOCK_TIMEOUT_ERROR;
  /** Error of a database whose container exited non-zero. */
  public static readonly BACKUP_FAILED_ERROR = DatabaseBackup.BACKUP_FAILED_ERROR;
  /** Error of the execution when at least one database failed. */
  public static readonly BACKUPS_FAILED_ERROR = 'DR.BackupsFailed';

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** One database's backup, the Map's item processor. */
  public readonly databaseBackup: DatabaseBackup;

  constructor(scope: Construct, id: string, props: BackupWorkflowProps) {
    super(scope, id);
    validateDatabaseTargets(`BackupWorkflow ${this.node.path}`, props.databases);
    const maxConcurrency = props.maxConcurrency ?? 2;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new Error(
        `BackupWorkflow ${this.node.path}: maxConcurrency is ${maxConcurrency}; use an integer >= 1 (databases backed up at once)`,
      );
    }
    validateJobTask(`BackupWorkflow ${this.node.path}`, props.task);

    const items: WorkflowDatabaseItem[] = props.databases.map((db) => ({
      name: db.name,
      host: db.host,
      port: String(db.port),
      secretEnv: secretEnvVarFor(db.name),
    }));

    // --- input: an optional tier ("" tells the job to choose by date) ---
    const listDatabases = sfn.Pass.jsonPath(this, 'List databases', {
      result: sfn.Result.fromArray(items),
      resultPath: '$.databases',
    });
    // Parameters, not Result (portable ASL 5): the execution input holds nothing else we read.
    const defaultTier = sfn.Pass.jsonPath(this, 'Tier by date', { parameters: { tier: '' } });
    const invalidInput = sfn.Fail.jsonPath(this, 'Invalid input', {
      error: 'DR.InvalidInput',
      cause: `"tier" must be one of ${TIERS.join(', ')}, or absent to choose by date`,
    });
    const checkInput = sfn.Choice.jsonPath(this, 'Check input')
      .when(absent('$.tier'), defaultTier.next(listDatabases))
      .when(sfn.Condition.or(...TIERS.map((t) => sfn.Condition.stringEquals('$.tier', t))), listDatabases)
      .otherwise(invalidInput);

    // --- one database each: its backup, a fragment (database-backup.ts) ---
    this.databaseBackup = new DatabaseBackup(this, 'Database backup', {
      task: props.task,
      taskTimeout: props.taskTimeout ?? Duration.hours(6),
      lockRetryInterval: props.lockRetryInterval ?? Duration.minutes(10),
    });

    const forEach = sfn.Map.jsonPath(this, 'Back up each database', {
      itemsPath: '$.databases',
      itemSelector: {
        database: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        tier: sfn.JsonPath.stringAt('$.tier'),
      },
      maxConcurrency,
      resultPath: '$.results',
    }).itemProcessor(this.databaseBackup);

    // --- all databases: fail naming the failed ones, or succeed with the summary ---
    // Paths here never select an empty list: the Map has at least one result, and failures are
    // listed only once one is known to exist.
    const summarize = sfn.Pass.jsonPath(this, 'Summarize', {
      parameters: {
        tier: sfn.JsonPath.stringAt('$.tier'),
        databases: sfn.JsonPath.listAt('$.results[*].name'),
        anyFailed: sfn.JsonPath.arrayContains(sfn.JsonPath.listAt('$.results[*].status'), 'FAILED'),
        results: sfn.JsonPath.listAt('$.results'),
      },
    });
    const listFailures = sfn.Pass.jsonPath(this, 'List failures', {
      parameters: { failed: sfn.JsonPath.listAt("$.results[?(@.status == 'FAILED')].name") },
    });
    const anyFailed = sfn.Choice.jsonPath(this, 'Any database failed?')
      .when(
        sfn.Condition.booleanEquals('$.anyFailed', true),
        listFailures.next(
          failWithCause(
            this,
            'Backups failed',
            BackupWorkflow.BACKUPS_FAILED_ERROR,
            sfn.JsonPath.format(
              'backup failed for {}; every other database was backed up. Each error is in the execution history',
              sfn.JsonPath.jsonToString(sfn.JsonPath.listAt('$.failed')),
            ),
          ),
        ),
      )
      .otherwise(sfn.Succeed.jsonPath(this, 'All backed up'));

    listDatabases.next(forEach).next(summarize).next(anyFailed);

    const { stateMachine, logGroup } = workflowStateMachine(this, {
      comment: 'crypto-stock-dr: back up every configured database to the vault',
      definition: checkInput,
      timeout: props.timeout ?? Duration.hours(23),
      logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      alsoStar: 'cloudwatch:PutMetricData (the BackupSucceeded metric) has no resource-level permissions',
      taskDefinitionName: 'job task definition',
    });
    this.stateMachine = stateMachine;
    this.logGroup = logGroup;
  }
}
