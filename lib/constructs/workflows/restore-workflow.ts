import { Duration, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RestoreEnv, secretEnvVarFor } from '../../../core/contract.ts';
import { nagResourceName } from '../../nag.ts';
import { type DatabaseTarget, validateDatabaseTargets } from '../database-target.ts';
import { DrFunction } from '../function.ts';
import type { BackupVault } from '../vault.ts';
import { type JobTask, validateJobTask, workflowStateMachine } from './job-task.ts';
import { RestoreRun } from './restore-run.ts';

export interface RestoreWorkflowProps {
  /**
   * Where `dr restore` runs: the job's restore part (`DrJob.restore`). Its task role must read
   * backups and write `results/restores/`, and nothing more: this construct grants it nothing, so a
   * restore never runs with the backup role's write access.
   */
  readonly task: JobTask;
  /** The databases a request may name; a restore targets the named database's server, with its secret. */
  readonly databases: readonly DatabaseTarget[];
  /** The vault: backups are read from it, and the job records each restore's result in it. */
  readonly vault: BackupVault;
  /** Notified with the reason when a restore fails (not for rejected input, which fails at once). */
  readonly alarmTopic: sns.ITopic;
  /**
   * Whether the task definition can restore to a point in time (it has a pgBackRest repository),
   * so requests with mode pitr are accepted.
   * @default false
   */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Longest the restore task may run.
   * @default Duration.hours(6)
   */
  readonly taskTimeout?: Duration;
  /**
   * Longest a whole execution may run.
   * @default Duration.hours(8)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the execution and Lambda log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A restore started by hand (Step Functions console, `dr remote restore`): validate the request,
 * run `dr restore` on the Fargate job, read back what it recorded, then succeed with a summary or
 * notify the alarm topic and fail.
 *
 * Input: core/restore/request.ts, e.g.
 *   {"database":"crypto_stock","backup":"latest","mode":"table","tables":["candles"],"target":{"database":"crypto_stock_restored","overwrite":false}}
 *
 * The job's `--json` result reaches the state machine through the vault: RUN_JOB returns exit codes,
 * not output, so the job writes `results/restores/<execution-name>.json` (DR_RESULT_NAME) and the
 * restore-result Lambda reads it. That record stays in the vault as the restore's audit trail; a
 * CloudWatch Logs read would depend on log delivery timing and the stream name of one task.
 *
 * Checksums: `dr restore` verifies every file it uses against the manifest before it touches the
 * target (falling back past a damaged `latest`); the summary reports the verified files and bytes.
 */
export class RestoreWorkflow extends Construct {
  /** State names, e.g. for local test overrides. */
  public static readonly VALIDATE_STATE = RestoreRun.VALIDATE_STATE;
  public static readonly RUN_TASK_STATE = RestoreRun.RUN_TASK_STATE;
  public static readonly READ_RESULT_STATE = RestoreRun.READ_RESULT_STATE;
  public static readonly NOTIFY_STATE = RestoreRun.NOTIFY_STATE;
  /** Errors the execution fails with. */
  public static readonly INVALID_REQUEST_ERROR = RestoreRun.INVALID_REQUEST_ERROR;
  public static readonly RESTORE_FAILED_ERROR = RestoreRun.RESTORE_FAILED_ERROR;
  public static readonly TASK_FAILED_ERROR = RestoreRun.TASK_FAILED_ERROR;
  public static readonly CONTAINER_NOT_RUN_ERROR = RestoreRun.CONTAINER_NOT_RUN_ERROR;
  public static readonly STEP_FAILED_ERROR = RestoreRun.STEP_FAILED_ERROR;

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly validateFunction: DrFunction;
  public readonly resultFunction: DrFunction;
  /** The restore's states, the whole definition. */
  public readonly restoreRun: RestoreRun;

  constructor(scope: Construct, id: string, props: RestoreWorkflowProps) {
    super(scope, id);
    validateDatabaseTargets(`RestoreWorkflow ${this.node.path}`, props.databases);
    validateJobTask(`RestoreWorkflow ${this.node.path}`, props.task);
    const taskTimeout = props.taskTimeout ?? Duration.hours(6);
    const timeout = props.timeout ?? Duration.hours(8);
    if (taskTimeout.toSeconds() >= timeout.toSeconds()) {
      throw new Error(
        `RestoreWorkflow ${this.node.path}: taskTimeout (${taskTimeout.toHumanString()}) must be shorter than timeout (${timeout.toHumanString()}), so a stuck task is reported before the execution times out`,
      );
    }
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    // --- Lambdas: validate the input; read the job's recorded result ---
    this.validateFunction = new DrFunction(this, 'ValidateFunction', {
      name: 'validate-restore',
      description: 'crypto-stock-dr: validates a restore request before any task runs',
      environment: {
        [RestoreEnv.databases]: JSON.stringify(
          props.databases.map((db) => ({
            name: db.name,
            host: db.host,
            port: String(db.port),
            secretEnv: secretEnvVarFor(db.name),
          })),
        ),
        [RestoreEnv.pointInTimeRecovery]: String(props.pointInTimeRecovery ?? false),
      },
      timeout: Duration.seconds(10),
      memorySize: 256,
      logRetention,
    });
    this.resultFunction = new DrFunction(this, 'ResultFunction', {
      name: 'restore-result',
      description: 'crypto-stock-dr: reads the result a restore job recorded in the vault and summarizes it',
      environment: { [RestoreEnv.repo]: `s3://${props.vault.bucket.bucketName}/` },
      timeout: Duration.seconds(30),
      memorySize: 256,
      logRetention,
    });
    props.vault.grantReadRestoreResults(this.resultFunction);

    // --- the restore itself: a fragment (restore-run.ts) ---
    this.restoreRun = new RestoreRun(this, 'Restore run', {
      validateFunction: this.validateFunction,
      resultFunction: this.resultFunction,
      task: props.task,
      taskTimeout,
      alarmTopic: props.alarmTopic,
    });

    const { stateMachine, logGroup } = workflowStateMachine(this, {
      comment: 'crypto-stock-dr: restore a backup (full, tables or a time range) into a database; input in the README',
      definition: this.restoreRun,
      timeout,
      logRetention,
      taskDefinitionName: 'restore task definition',
    });
    this.stateMachine = stateMachine;
    this.logGroup = logGroup;
    // Publishing to a topic under a customer-managed key takes these two (exact names: no wildcard).
    props.alarmTopic.masterKey?.grant(this.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey');
    for (const fn of [this.validateFunction, this.resultFunction]) {
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, fn.functionArn)}:*]`,
        reason: `Added by LambdaInvoke: lambda:InvokeFunction on the versions and aliases of this one function (${fn.node.id}); no other function.`,
      });
    }
  }
}
