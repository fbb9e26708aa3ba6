import type { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { JobEnv } from '../../../core/contract.ts';
import { InvalidRestoreRequest } from '../../../core/restore/request.ts';
import { absent, type FailureNotice, failWithCause, JOB_EXIT_CODE, type JobTask, jobRunTask } from './job-task.ts';

export interface RestoreRunProps {
  /** lambdas/validate-restore: the request, checked, and the job's view of it. */
  readonly validateFunction: lambda.IFunction;
  /** lambdas/restore-result: the job's recorded result, summarized. */
  readonly resultFunction: lambda.IFunction;
  /** Where `dr restore` runs (RestoreWorkflowProps.task). */
  readonly task: JobTask;
  readonly taskTimeout: Duration;
  /** Told of every failure but a rejected request. */
  readonly alarmTopic: sns.ITopic;
}

/**
 * One restore, the whole of RestoreWorkflow's definition: validate the request, run `dr restore`
 * on the job, read back what it recorded, then succeed with the summary, or notify and fail.
 */
export class RestoreRun extends sfn.StateMachineFragment {
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

  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: RestoreRunProps) {
    super(scope, id);
    // --- failures: describe (failWithCause: the cause, then error and message), notify, fail ---
    const fail = sfn.Fail.jsonPath(this, 'Restore failed', { errorPath: '$.error', causePath: '$.cause' });
    const notify = new tasks.SnsPublish(this, RestoreRun.NOTIFY_STATE, {
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
    const validate = tasks.LambdaInvoke.jsonPath(this, RestoreRun.VALIDATE_STATE, {
      lambdaFunction: props.validateFunction,
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
      error: RestoreRun.INVALID_REQUEST_ERROR,
      causePath: '$.lambdaError.errorMessage',
    });
    // Default ResultPath (the error replaces the input): the input may not even be an object, and nothing after this needs it.
    validate.addCatch(parseRejection.next(rejected), { errors: [RestoreRun.INVALID_REQUEST_ERROR] });
    validate.addCatch(
      describeFailure(
        'Validation step failed',
        RestoreRun.STEP_FAILED_ERROR,
        sfn.JsonPath.format(
          'the validate step failed ({}): {}',
          sfn.JsonPath.stringAt('$.Error'),
          sfn.JsonPath.stringAt('$.Cause'),
        ),
      ),
      { errors: [sfn.Errors.ALL] },
    );

    // --- 2. the restore on the Fargate job ---
    const runTask = jobRunTask(this, RestoreRun.RUN_TASK_STATE, props.task, {
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
      taskTimeout: props.taskTimeout,
    });
    runTask.addCatch(
      describeFailure(
        'Task failed',
        RestoreRun.TASK_FAILED_ERROR,
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
    const readResult = tasks.LambdaInvoke.jsonPath(this, RestoreRun.READ_RESULT_STATE, {
      lambdaFunction: props.resultFunction,
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
        RestoreRun.STEP_FAILED_ERROR,
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
          RestoreRun.CONTAINER_NOT_RUN_ERROR,
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
        describeFailure('Restore failed', RestoreRun.RESTORE_FAILED_ERROR, sfn.JsonPath.stringAt('$.outcome.reason')),
      );

    validate.next(runTask).next(readResult).next(checkExit);
    this.startState = validate;
    // Every end is a Succeed or a Fail state.
    this.endStates = [];
  }
}
