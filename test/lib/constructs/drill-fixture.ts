/**
 * A stack with the backup job and the drill workflow alone, its Lambdas imported by ARN: the drill
 * definition can be inspected and run locally without bundling any function.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { DrJob } from '../../../lib/constructs/job.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { DrillWorkflow, type DrillWorkflowProps } from '../../../lib/constructs/workflows/drill-workflow.ts';
import { newApp } from '../helpers.ts';

export interface DrillFixture {
  readonly stack: Stack;
  readonly template: Template;
  readonly workflow: DrillWorkflow;
}

export function drillFixture(
  databases: readonly string[],
  scratch: { host: string; port: number },
  overrides: Partial<DrillWorkflowProps> = {},
): DrillFixture {
  const stack = new Stack(newApp(), 'Drill');
  const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'staging/db');
  const vault = new BackupVault(stack, 'Vault');
  const job = new DrJob(stack, 'Job', {
    vault,
    databases: databases.map((name) => ({ name, host: scratch.host, port: scratch.port, secret })),
    sslMode: 'disable',
    // The image is irrelevant here (the job runs as a local process); skip staging the Docker context.
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
  });
  const fn = (name: string) =>
    lambda.Function.fromFunctionArn(stack, name, `arn:aws:lambda:us-east-1:123456789012:function:${name}`);
  const workflow = new DrillWorkflow(stack, 'DrillWorkflow', {
    task: job.restore,
    vault,
    databases,
    scratchServer: { host: scratch.host, port: scratch.port, secret },
    verifyFunction: fn('verify'),
    cleanupFunction: fn('drill-cleanup'),
    reportFunction: fn('drill-report'),
    rtoSeconds: 3600,
    ...overrides,
  });
  return { stack, template: Template.fromStack(stack), workflow };
}
