import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DrFunctionProps {
  /** The folder under `lambdas/` whose `handler.ts` exports `handler`. */
  readonly name: string;
  readonly description: string;
  /** @default - no extra environment */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.minutes(1) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /**
   * VPC to run in (private subnets), for handlers that reach the database.
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** @default - a new security group when `vpc` is given */
  readonly securityGroups?: readonly ec2.ISecurityGroup[];
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Every Lambda of the stack: one place for runtime, architecture, tracing, logs and bundling,
 * so the handlers under lambdas/ stay thin and alike. It is the NodejsFunction itself: callers
 * grant to it and pass it to tasks and targets as they would any function.
 */
export class DrFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: DrFunctionProps) {
    const entry = `${REPO_ROOT}lambdas/${props.name}/handler.ts`;
    if (!existsSync(entry))
      throw new Error(
        `DrFunction ${[scope.node.path, id].filter(Boolean).join('/')}: no handler at lambdas/${props.name}/handler.ts; name an existing folder under lambdas/`,
      );
    // The function's own log group, passed in (LoggingConfig) so its retention and removal are set
    // here. It is made before the function exists, so it sits beside it as `<id>Logs`.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    super(scope, id, {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      timeout: props.timeout ?? Duration.minutes(1),
      memorySize: props.memorySize ?? 512,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      vpc: props.vpc,
      vpcSubnets: props.vpc ? (props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }) : undefined,
      securityGroups: props.securityGroups ? [...props.securityGroups] : undefined,
      projectRoot: REPO_ROOT,
      depsLockFilePath: `${REPO_ROOT}package-lock.json`,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        sourceMap: true,
        minify: true,
        // pg's optional native binding is never used; the SDK v3 ships in the runtime but is bundled for pinned versions.
        externalModules: ['pg-native'],
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      },
    });

    // The same three findings for every function this wrapper creates, so acknowledged here once.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'The runtime is pinned to nodejs24.x, the newest aws-cdk-lib offers, on purpose: the esbuild target (node24) follows it, so a later runtime is a reviewed change, not a silent default.',
    });
    if (this.role) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'The AWS-managed basic execution policy only lets the function write its own CloudWatch Logs (CreateLogStream/PutLogEvents); every data permission is a scoped inline grant.',
      });
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support only Resource "*"; the data permissions of the role are scoped grants.',
      });
    }
  }
}
