import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { JobEnv, JobExit, Metrics } from '../../../core/contract.ts';
import { absent, failWithCause, JOB_EXIT_CODE, type JobTask, jobRunTask } from './job-task.ts';

export interface DatabaseBackupProps {
  /** Where `dr backup` runs (BackupWorkflowProps.task). */
  readonly task: JobTask;
  /** Longest one backup task may run. */
  readonly taskTimeout: Duration;
  /** Wait before the one retry of a backup that timed out on a lock. */
  readonly lockRetryInterval: Duration;
}

/**
 * One database's backup, the item processor of BackupWorkflow's Map: the task and the judgement of
 * its exit code (metrics, one retry on a lock timeout), ending in one record `{name, status}`
 * (SUCCEEDED, or FAILED with the error). Its input is the Map's item: `{database, tier}`.
 */
export class DatabaseBackup extends sfn.StateMachineFragment {
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
  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: DatabaseBackupProps) {
    super(scope, id);
    const runTask = jobRunTask(this, DatabaseBackup.RUN_TASK_STATE, props.task, {
      command: 'backup',
      environment: [
        { name: JobEnv.database, value: sfn.JsonPath.stringAt('$.database.name') },
        { name: JobEnv.dbHost, value: sfn.JsonPath.stringAt('$.database.host') },
        { name: JobEnv.dbPort, value: sfn.JsonPath.stringAt('$.database.port') },
        { name: JobEnv.secretEnv, value: sfn.JsonPath.stringAt('$.database.secretEnv') },
        { name: JobEnv.tier, value: sfn.JsonPath.stringAt('$.tier') },
      ],
      taskTimeout: props.taskTimeout,
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
      DatabaseBackup.METRIC_STATE,
      Metrics.backupSucceeded,
      'Metric not recorded',
      backedUp,
    );
    // A suspect backup is complete (its manifest is written), so it counts for the RPO; it alarms on its own metric.
    const recordSuspect = putMetric(
      DatabaseBackup.SUSPECT_METRIC_STATE,
      Metrics.backupSuspect,
      'Suspect metric not recorded',
      recordMetric,
    );
    // Each attempt that timed out on a lock is counted (the alarm), then fails with the error the attempt retries on.
    const lockTimedOut = putMetric(
      DatabaseBackup.LOCK_TIMEOUT_METRIC_STATE,
      Metrics.backupLockTimeouts,
      'Lock timeout metric not recorded',
      failWithCause(
        this,
        'Lock wait timed out',
        DatabaseBackup.LOCK_TIMEOUT_ERROR,
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
          DatabaseBackup.BACKUP_FAILED_ERROR,
          sfn.JsonPath.format(
            'dr backup of {} exited with code {}',
            sfn.JsonPath.stringAt('$.database.name'),
            sfn.JsonPath.stringAt(JOB_EXIT_CODE),
          ),
        ),
      );

    // A Retry needs a state that fails with an error, and RUN_JOB never does on an exit code: the
    // attempt (task + exit-code check) is a Parallel, retried once when it failed on a lock timeout.
    const attempt = sfn.Parallel.jsonPath(this, DatabaseBackup.ATTEMPT_STATE, {
      resultPath: sfn.JsonPath.DISCARD,
    }).branch(runTask.next(checkExit));
    attempt.addRetry({
      errors: [DatabaseBackup.LOCK_TIMEOUT_ERROR],
      interval: props.lockRetryInterval,
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

    backupOne.next(recordSuccess);
    this.startState = backupOne;
    this.endStates = [recordSuccess, recordFailure];
  }
}
