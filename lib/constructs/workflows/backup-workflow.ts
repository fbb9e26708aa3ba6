import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { JobEnv, JobExit, Metrics, secretEnvVarFor } from '../../../core/contract.ts';
import { TIERS } from '../../../core/repository/tiers.ts';
import { type DatabaseTarget, validateDatabaseTargets } from '../database-target.ts';
import {
  absent,
  failWithCause,
  JOB_EXIT_CODE,
  type JobTask,
  jobRunTask,
  validateJobTask,
  workflowStateMachine,
} from './job-task.ts';

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
  public static readonly RUN_TASK_STATE = 'Run backup task';
  /** Name of the state that emits `Metrics.backupSucceeded` for a database, e.g. for local test overrides. */
  public static readonly METRIC_STATE = 'Record backup succeeded metric';
  /** Name of the state that emits `Metrics.backupLockTimeouts` for a database. */
  public static readonly LOCK_TIMEOUT_METRIC_STATE = 'Record lock timeout metric';
  /** Name of the state that emits `Metrics.backupSuspect` for a database. */
  public static readonly SUSPECT_METRIC_STATE = 'Record suspect backup metric';
  /** The state retried once when the backup failed on a lock timeout (it runs the task and judges its exit code). */
  public static readonly ATTEMPT_STATE = 'Attempt backup';
  /** Error of an attempt whose job exited JobExit.lockTimeout; the attempt is retried once on it. */
  public static readonly LOCK_TIMEOUT_ERROR = 'DR.BackupLockTimeout';
  /** Error of a database whose container exited non-zero. */
  public static readonly BACKUP_FAILED_ERROR = 'DR.BackupFailed';
  /** Error of the execution when at least one database failed. */
  public static readonly BACKUPS_FAILED_ERROR = 'DR.BackupsFailed';

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

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

    // --- one database: run the task, then judge its exit code ---
    const runTask = jobRunTask(this, BackupWorkflow.RUN_TASK_STATE, props.task, {
      command: 'backup',
      environment: [
        { name: JobEnv.database, value: sfn.JsonPath.stringAt('$.database.name') },
        { name: JobEnv.dbHost, value: sfn.JsonPath.stringAt('$.database.host') },
        { name: JobEnv.dbPort, value: sfn.JsonPath.stringAt('$.database.port') },
        { name: JobEnv.secretEnv, value: sfn.JsonPath.stringAt('$.database.secretEnv') },
        { name: JobEnv.tier, value: sfn.JsonPath.stringAt('$.tier') },
      ],
      taskTimeout: props.taskTimeout ?? Duration.hours(6),
    });

    /** PutMetricData of 1 for this database; a lost datapoint goes on to `next`, never fails the backup's outcome. */
    const putMetric = (
      stateName: string,
      metricName: string,
      lostName: string,
      next: sfn.IChainable,
    ): sfn.IChainable => {
      const put = tasks.CallAwsService.jsonPath(this, stateName, {
        service: 'cloudwatch',
        action: 'putMetricData',
        // PutMetricData supports no resource-level scoping.
        iamResources: ['*'],
        parameters: {
          Namespace: Metrics.namespace,
          MetricData: [
            {
              MetricName: metricName,
              Dimensions: [{ Name: Metrics.dimension, Value: sfn.JsonPath.stringAt('$.database.name') }],
              Value: 1,
              Unit: 'Count',
            },
          ],
        },
        resultPath: sfn.JsonPath.DISCARD,
      });
      put.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(5), maxAttempts: 3, backoffRate: 2 });
      put.addCatch(sfn.Pass.jsonPath(this, lostName).next(next), {
        errors: [sfn.Errors.ALL],
        resultPath: sfn.JsonPath.DISCARD,
      });
      return put.next(next);
    };

    // The RPO alarm watches this metric: no datapoint for a database in 26 h is a breach. Emitting it
    // here, after the exit-code check, means it counts only backups whose manifest was written.
    // The backup itself succeeded; a lost datapoint surfaces as an RPO alarm, not as a failed backup.
    const backedUp = sfn.Succeed.jsonPath(this, 'Container exited 0');
    const recordMetric = putMetric(
      BackupWorkflow.METRIC_STATE,
      Metrics.backupSucceeded,
      'Metric not recorded',
      backedUp,
    );
    // A suspect backup is complete (its manifest is written), so it counts for the RPO; it alarms on its own metric.
    const recordSuspect = putMetric(
      BackupWorkflow.SUSPECT_METRIC_STATE,
      Metrics.backupSuspect,
      'Suspect metric not recorded',
      recordMetric,
    );
    // Each attempt that timed out on a lock is counted (the alarm), then fails with the error the attempt retries on.
    const lockTimedOut = putMetric(
      BackupWorkflow.LOCK_TIMEOUT_METRIC_STATE,
      Metrics.backupLockTimeouts,
      'Lock timeout metric not recorded',
      failWithCause(
        this,
        'Lock wait timed out',
        BackupWorkflow.LOCK_TIMEOUT_ERROR,
        sfn.JsonPath.format(
          'dr backup of {} waited too long for a lock held by another session (exit code {}); the job logs name the session',
          sfn.JsonPath.stringAt('$.database.name'),
          sfn.JsonPath.stringAt(JOB_EXIT_CODE),
        ),
      ),
    );
    // RUN_JOB succeeds whenever the task stops, whatever its exit code, so the code is checked here.
    const checkExit = sfn.Choice.jsonPath(this, 'Check exit code')
      .when(
        absent(JOB_EXIT_CODE),
        failWithCause(
          this,
          'Container did not run',
          'DR.ContainerNotRun',
          sfn.JsonPath.format(
            'the backup task for {} stopped without an exit code; see the ECS task {}',
            sfn.JsonPath.stringAt('$.database.name'),
            sfn.JsonPath.stringAt('$.task.TaskArn'),
          ),
        ),
      )
      .when(sfn.Condition.numberEquals(JOB_EXIT_CODE, 0), recordMetric)
      .when(sfn.Condition.numberEquals(JOB_EXIT_CODE, JobExit.backupSuspect), recordSuspect)
      .when(sfn.Condition.numberEquals(JOB_EXIT_CODE, JobExit.lockTimeout), lockTimedOut)
      .otherwise(
        failWithCause(
          this,
          'Container failed',
          BackupWorkflow.BACKUP_FAILED_ERROR,
          sfn.JsonPath.format(
            'dr backup of {} exited with code {}',
            sfn.JsonPath.stringAt('$.database.name'),
            sfn.JsonPath.stringAt(JOB_EXIT_CODE),
          ),
        ),
      );

    // A Retry needs a state that fails with an error, and RUN_JOB never does on an exit code: the
    // attempt (task + exit-code check) is a Parallel, retried once when it failed on a lock timeout.
    const attempt = sfn.Parallel.jsonPath(this, BackupWorkflow.ATTEMPT_STATE, {
      resultPath: sfn.JsonPath.DISCARD,
    }).branch(runTask.next(checkExit));
    attempt.addRetry({
      errors: [BackupWorkflow.LOCK_TIMEOUT_ERROR],
      interval: props.lockRetryInterval ?? Duration.minutes(10),
      maxAttempts: 1,
    });

    // The Parallel turns any failure of one database into a caught error, so the Map goes on.
    const backupOne = sfn.Parallel.jsonPath(this, 'Back up database', { resultPath: sfn.JsonPath.DISCARD }).branch(
      attempt,
    );
    const recordSuccess = sfn.Pass.jsonPath(this, 'Record success', {
      parameters: { name: sfn.JsonPath.stringAt('$.database.name'), status: 'SUCCEEDED' },
    });
    const recordFailure = sfn.Pass.jsonPath(this, 'Record failure', {
      parameters: {
        name: sfn.JsonPath.stringAt('$.database.name'),
        status: 'FAILED',
        error: sfn.JsonPath.objectAt('$.error'),
      },
    });
    backupOne.addCatch(recordFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

    const forEach = sfn.Map.jsonPath(this, 'Back up each database', {
      itemsPath: '$.databases',
      itemSelector: {
        database: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        tier: sfn.JsonPath.stringAt('$.tier'),
      },
      maxConcurrency,
      resultPath: '$.results',
    }).itemProcessor(backupOne.next(recordSuccess));

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
