import { Duration, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { JobEnv, RestoreEnv, secretEnvVarFor } from '../../../core/contract.ts';
import { InvalidRestoreRequest } from '../../../core/restore/request.ts';
import { nagResourceName } from '../../nag.ts';
import { type DatabaseTarget, validateDatabaseTargets } from '../database-target.ts';
import { DrFunction } from '../function.ts';
import type { BackupVault } from '../vault.ts';
import {
  absent,
  type FailureNotice,
  failWithCause,
  JOB_EXIT_CODE,
  type JobTask,
  jobRunTask,
  validateJobTask,
  workflowStateMachine,
} from './job-task.ts';

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
  public static readonly VALIDATE_STATE = 'Validate request';
  public static readonly RUN_TASK_STATE = 'Run restore task';
  public static readonly READ_RESULT_STATE = 'Read restore result';
  public static readonly NOTIFY_STATE = 'Notify failure';
  /** Errors the execution fails with. */
  public static readonly INVALID_REQUEST_ERROR = InvalidRestoreRequest.NAME;
  public static readonly RESTORE_FAILED_ERROR = 'DR.RestoreFailed';
  public static readonly TASK_FAILED_ERROR = 'DR.RestoreTaskFailed';
  public static readonly CONTAINER_NOT_RUN_ERROR = 'DR.ContainerNotRun';
  public static readonly STEP_FAILED_ERROR = 'DR.RestoreStepFailed';

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly validateFunction: DrFunction;
  public readonly resultFunction: DrFunction;

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

    // --- failures: describe (failWithCause: the cause, then error and message), notify, fail ---
    const fail = sfn.Fail.jsonPath(this, 'Restore failed', { errorPath: '$.error', causePath: '$.cause' });
    const notify = new tasks.SnsPublish(this, RestoreWorkflow.NOTIFY_STATE, {
      topic: props.alarmTopic,
      subject: 'crypto-stock-dr: restore failed',
      message: sfn.TaskInput.fromJsonPathAt('$.message'),
      resultPath: sfn.JsonPath.DISCARD,
    });
    // A failed notification must not hide the restore's own error.
    notify.addCatch(fail, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
    notify.next(fail);
    const notice: FailureNotice = {
      message: (error, causePath) =>
        sfn.JsonPath.format(
          'Restore execution {} failed ({}): {} -- Execution: {}',
          sfn.JsonPath.executionName,
          error,
          sfn.JsonPath.stringAt(causePath),
          sfn.JsonPath.executionId,
        ),
      next: notify,
    };
    const describeFailure = (name: string, error: string, cause: string): sfn.Chain =>
      failWithCause(this, name, error, cause, notice);

    // --- 1. validate: nothing runs for a rejected request ---
    const validate = tasks.LambdaInvoke.jsonPath(this, RestoreWorkflow.VALIDATE_STATE, {
      lambdaFunction: this.validateFunction,
      // The execution's ARN is every Lambda's correlation id (lambdas/shared/observability.ts).
      payload: sfn.TaskInput.fromObject({
        request: sfn.JsonPath.entirePayload,
        executionArn: sfn.JsonPath.executionId,
      }),
      // No ResultPath: the default replaces the input (portable ASL 4).
      resultSelector: { 'request.$': '$.Payload.request', 'job.$': '$.Payload.job' },
    });
    // Lambda's Cause is JSON {errorType, errorMessage, trace}: fail with the message alone.
    const parseRejection = sfn.Pass.jsonPath(this, 'Parse rejection', {
      parameters: { 'lambdaError.$': 'States.StringToJson($.Cause)' },
    });
    const rejected = sfn.Fail.jsonPath(this, 'Request rejected', {
      error: RestoreWorkflow.INVALID_REQUEST_ERROR,
      causePath: '$.lambdaError.errorMessage',
    });
    // Default ResultPath (the error replaces the input): the input may not even be an object, and nothing after this needs it.
    validate.addCatch(parseRejection.next(rejected), { errors: [RestoreWorkflow.INVALID_REQUEST_ERROR] });
    validate.addCatch(
      describeFailure(
        'Validation step failed',
        RestoreWorkflow.STEP_FAILED_ERROR,
        sfn.JsonPath.format(
          'the validate step failed ({}): {}',
          sfn.JsonPath.stringAt('$.Error'),
          sfn.JsonPath.stringAt('$.Cause'),
        ),
      ),
      { errors: [sfn.Errors.ALL] },
    );

    // --- 2. the restore on the Fargate job ---
    const runTask = jobRunTask(this, RestoreWorkflow.RUN_TASK_STATE, props.task, {
      command: 'restore',
      environment: [
        { name: JobEnv.database, value: sfn.JsonPath.stringAt('$.job.database') },
        { name: JobEnv.targetDatabase, value: sfn.JsonPath.stringAt('$.job.targetDatabase') },
        { name: JobEnv.args, value: sfn.JsonPath.stringAt('$.job.args') },
        { name: JobEnv.dbHost, value: sfn.JsonPath.stringAt('$.job.host') },
        { name: JobEnv.dbPort, value: sfn.JsonPath.stringAt('$.job.port') },
        { name: JobEnv.secretEnv, value: sfn.JsonPath.stringAt('$.job.secretEnv') },
        { name: JobEnv.resultName, value: sfn.JsonPath.executionName },
      ],
      taskTimeout,
    });
    runTask.addCatch(
      describeFailure(
        'Task failed',
        RestoreWorkflow.TASK_FAILED_ERROR,
        sfn.JsonPath.format(
          'the restore task of {} into {} did not complete ({}): {}',
          sfn.JsonPath.stringAt('$.job.database'),
          sfn.JsonPath.stringAt('$.job.targetDatabase'),
          sfn.JsonPath.stringAt('$.taskError.Error'),
          sfn.JsonPath.stringAt('$.taskError.Cause'),
        ),
      ),
      { errors: [sfn.Errors.ALL], resultPath: '$.taskError' },
    );

    // --- 3. what the job recorded: summary or failure reason ---
    const readResult = tasks.LambdaInvoke.jsonPath(this, RestoreWorkflow.READ_RESULT_STATE, {
      lambdaFunction: this.resultFunction,
      payload: sfn.TaskInput.fromObject({
        executionArn: sfn.JsonPath.executionId,
        executionName: sfn.JsonPath.executionName,
        executionStartedAt: sfn.JsonPath.executionStartTime,
        request: sfn.JsonPath.objectAt('$.request'),
        containers: sfn.JsonPath.listAt('$.task.Containers'),
      }),
      resultSelector: { 'summary.$': '$.Payload.summary', 'reason.$': '$.Payload.reason' },
      resultPath: '$.outcome',
    });
    readResult.addCatch(
      describeFailure(
        'Result unreadable',
        RestoreWorkflow.STEP_FAILED_ERROR,
        sfn.JsonPath.format(
          'the restore task stopped, but its result could not be read ({}): {}; check the target and the job logs',
          sfn.JsonPath.stringAt('$.stepError.Error'),
          sfn.JsonPath.stringAt('$.stepError.Cause'),
        ),
      ),
      { errors: [sfn.Errors.ALL], resultPath: '$.stepError' },
    );

    // --- 4. RUN_JOB succeeds whenever the task stops: the exit code decides ---
    const restored = sfn.Succeed.jsonPath(this, 'Restored', { outputPath: '$.outcome.summary' });
    const checkExit = sfn.Choice.jsonPath(this, 'Check exit code')
      .when(
        absent(JOB_EXIT_CODE),
        describeFailure(
          'Container did not run',
          RestoreWorkflow.CONTAINER_NOT_RUN_ERROR,
          sfn.JsonPath.format(
            'the restore task stopped without an exit code; see the ECS task {}',
            sfn.JsonPath.stringAt('$.task.TaskArn'),
          ),
        ),
      )
      .when(
        sfn.Condition.and(sfn.Condition.numberEquals(JOB_EXIT_CODE, 0), sfn.Condition.isNull('$.outcome.reason')),
        restored,
      )
      .otherwise(
        describeFailure(
          'Restore failed',
          RestoreWorkflow.RESTORE_FAILED_ERROR,
          sfn.JsonPath.stringAt('$.outcome.reason'),
        ),
      );

    const definition = validate.next(runTask).next(readResult).next(checkExit);

    const { stateMachine, logGroup } = workflowStateMachine(this, {
      comment: 'crypto-stock-dr: restore a backup (full, tables or a time range) into a database; input in the README',
      definition,
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
