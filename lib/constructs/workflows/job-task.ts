import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { JobEnv } from '../../../core/contract.ts';

/*
 * Portable ASL. The tests execute every definition with aws-local-stepfunctions, so the workflows
 * keep to constructs both it and AWS run alike. Each is equivalent on AWS, which needs none of them:
 *
 * 1. Not(IsPresent) rather than IsPresent: false (`absent`).
 * 2. A Fail's cause is built in a Pass first, then read with CausePath: Fail's CausePath takes
 *    intrinsics on AWS, not locally (`failWithCause`, RestoreWorkflow's failures).
 * 3. No intrinsic nested in States.Format: the inner value is built in a Pass of its own first.
 * 4. No explicit ResultPath '$' (mishandled locally): leave ResultPath out, the default replaces the input.
 * 5. Parameters rather than an empty Result on a Pass (skipped locally).
 *
 * Comments at each use point here as "(portable ASL n)".
 */

/** Where and how a workflow runs the Fargate job: one of `DrJob`'s task parts (`backup`, `restore`, `drill`). */
export interface JobTaskProps {
  /** Cluster the job runs in. */
  readonly cluster: ecs.ICluster;
  /** The job's task definition (its container must be `container`). */
  readonly taskDefinition: ecs.TaskDefinition;
  /** The container whose environment is overridden per run. */
  readonly container: ecs.ContainerDefinition;
  /** Security groups of the task. */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
  /** Subnets of the task; they must reach the databases and AWS APIs without a public IP. */
  readonly subnets: ec2.SubnetSelection;
}

/** A task part of the job as a workflow uses it: where it runs, and the secrets a workflow adds to it. */
export interface JobTask extends JobTaskProps {
  /** Injects `secret` into the container as the environment variable `name` (ValueFrom, never plain text). */
  addSecret(name: string, secret: secretsmanager.ISecret): void;
}

/** Throws, saying how to fix it, when `container` is not the task definition's own. */
export function validateJobTask(owner: string, props: JobTaskProps): void {
  if (props.taskDefinition.findContainer(props.container.containerName) !== props.container) {
    throw new Error(
      `${owner}: container "${props.container.containerName}" is not in the given task definition; pass the job's own container`,
    );
  }
}

/** Where the job task's exit code is once the run-task state (result path `$.task`) is done. */
export const JOB_EXIT_CODE = '$.task.Containers[0].ExitCode';

/** Not(IsPresent: true) rather than IsPresent: false (portable ASL 1). */
export function absent(path: string): sfn.Condition {
  return sfn.Condition.not(sfn.Condition.isPresent(path));
}

export interface JobRunOptions {
  /** The `dr` command the job runs (`JobEnv.command`, the first override). */
  readonly command: 'backup' | 'restore';
  /** The other container overrides, in this order. */
  readonly environment: tasks.TaskEnvironmentVariable[];
  /** Longest the task may run. */
  readonly taskTimeout: Duration;
}

/**
 * A state that runs the job and waits until the task stops (RUN_JOB). Its result at `$.task` holds
 * only the containers (the exit code is at JOB_EXIT_CODE) and the task ARN. RUN_JOB succeeds
 * whenever the task stops, whatever its exit code: the caller judges the code.
 */
export function jobRunTask(
  scope: Construct,
  stateName: string,
  props: JobTaskProps,
  options: JobRunOptions,
): tasks.EcsRunTask {
  const runTask = tasks.EcsRunTask.jsonPath(scope, stateName, {
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    cluster: props.cluster,
    taskDefinition: props.taskDefinition,
    launchTarget: new tasks.EcsFargateLaunchTarget({ platformVersion: ecs.FargatePlatformVersion.LATEST }),
    subnets: props.subnets,
    securityGroups: [...props.securityGroups],
    assignPublicIp: false,
    propagatedTagSource: ecs.PropagatedTagSource.TASK_DEFINITION,
    containerOverrides: [
      {
        containerDefinition: props.container,
        environment: [{ name: JobEnv.command, value: options.command }, ...options.environment],
      },
    ],
    taskTimeout: sfn.Timeout.duration(options.taskTimeout),
    // Only what the exit-code check needs: the full DescribeTasks output would bloat the state (and a Map's result).
    resultSelector: { 'Containers.$': '$.Containers', 'TaskArn.$': '$.TaskArn' },
    resultPath: '$.task',
  });
  // RunTask itself can be throttled or find no capacity; those are worth a retry, a failed job is not.
  runTask.addRetry({
    errors: ['ECS.AmazonECSException'],
    interval: Duration.seconds(30),
    maxAttempts: 3,
    backoffRate: 2,
  });
  return runTask;
}

/** Where a failure goes instead of its own Fail state: a notification first (the restore workflow). */
export interface FailureNotice {
  /** The message, from the error name and the built cause (a JSONPath to it). */
  readonly message: (error: string, causePath: string) => string;
  /** The state that sends `$.message` and then fails with `$.error` and `$.cause`. */
  readonly next: sfn.IChainable;
}

/**
 * The one failure helper of every workflow. Pass `Describe: <name>` builds `{cause}` first, as an
 * intrinsic cannot be a Fail's cause (portable ASL 2); then Fail `<name>` with `error` and that
 * cause, or, with `notice`, Pass `Message: <name>` adds `{error, message}` (a second step: the
 * message formats a cause that must already exist, portable ASL 3) before `notice.next`.
 */
export function failWithCause(
  scope: Construct,
  name: string,
  error: string,
  cause: string,
  notice?: FailureNotice,
): sfn.Chain {
  const causePath = '$.cause';
  const describe = sfn.Pass.jsonPath(scope, `Describe: ${name}`, { parameters: { cause } });
  if (!notice) return describe.next(sfn.Fail.jsonPath(scope, name, { error, causePath }));
  return describe
    .next(
      sfn.Pass.jsonPath(scope, `Message: ${name}`, {
        parameters: { error, cause: sfn.JsonPath.stringAt(causePath), message: notice.message(error, causePath) },
      }),
    )
    .next(notice.next);
}

export interface WorkflowStateMachineProps {
  readonly comment: string;
  readonly definition: sfn.IChainable;
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
  /** What the role's unavoidable `Resource: "*"` covers besides RUN_JOB, X-Ray and log delivery, e.g. a metric API. */
  readonly alsoStar?: string;
  /** Which task definition `ecs:RunTask` and `iam:PassRole` are scoped to, in the acknowledgement. */
  readonly taskDefinitionName: string;
}

/**
 * The workflow's state machine (X-Ray, full execution logs into a retained log group of its own)
 * with the cdk-nag acknowledgement of the `Resource: "*"` statements CDK adds for RUN_JOB.
 */
export function workflowStateMachine(
  scope: Construct,
  props: WorkflowStateMachineProps,
): { stateMachine: sfn.StateMachine; logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: props.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    comment: props.comment,
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    timeout: props.timeout,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
  });
  Validations.of(stateMachine.role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Added by CDK and not scopable: ecs:DescribeTasks/StopTask for RUN_JOB act on task ARNs known only at run time, ' +
      (props.alsoStar ? `${props.alsoStar}, ` : '') +
      'X-Ray tracing (xray:PutTraceSegments etc.) and CloudWatch Logs delivery (logs:*LogDelivery, DescribeLogGroups) support only Resource "*". ' +
      `ecs:RunTask and iam:PassRole stay scoped to the ${props.taskDefinitionName} and its roles.`,
  });
  return { stateMachine, logGroup };
}
