/**
 * A stack with only what the restore workflow needs (vault, job, an encrypted alarm topic), so its
 * tests do not depend on the rest of DrStack. Lambda bundling is skipped (context
 * aws:cdk:bundling-stacks = []): the tests read the template or run the handlers in-process.
 */
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { DatabaseTarget } from '../../../lib/constructs/database-target.ts';
import { DrJob } from '../../../lib/constructs/job.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { RestoreWorkflow, type RestoreWorkflowProps } from '../../../lib/constructs/workflows/restore-workflow.ts';

const cdkJson = JSON.parse(readFileSync(new URL('../../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

export interface RestoreStack {
  readonly app: App;
  readonly stack: Stack;
  readonly vault: BackupVault;
  readonly job: DrJob;
  readonly topic: sns.Topic;
  readonly workflow: RestoreWorkflow;
  readonly template: Template;
}

export interface RestoreStackOptions {
  readonly databases?: readonly { readonly name: string; readonly host: string; readonly port: number }[];
  readonly sslMode?: 'disable' | 'require';
  readonly workflow?: Partial<RestoreWorkflowProps>;
}

export function restoreStack(options: RestoreStackOptions = {}): RestoreStack {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'TestRestore', { env: { account: '123456789012', region: 'us-east-1' } });
  const databases: DatabaseTarget[] = (
    options.databases ?? [{ name: 'crypto_stock', host: 'db.internal.example', port: 5432 }]
  ).map((db, i) => ({
    ...db,
    secret: secretsmanager.Secret.fromSecretNameV2(stack, `Secret${i}`, `test/${db.name}`),
  }));
  const vault = new BackupVault(stack, 'Vault');
  const job = new DrJob(stack, 'Job', {
    vault,
    databases,
    sslMode: options.sslMode ?? 'require',
    // The job runs as a local process in the tests; skip staging the Docker context.
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
  });
  const topic = new sns.Topic(stack, 'Alarms', {
    masterKey: new kms.Key(stack, 'AlarmKey', { enableKeyRotation: true }),
    enforceSSL: true,
  });
  const workflow = new RestoreWorkflow(stack, 'RestoreWorkflow', {
    task: job.restore,
    databases,
    vault,
    alarmTopic: topic,
    ...options.workflow,
  });
  return { app, stack, vault, job, topic, workflow, template: Template.fromStack(stack) };
}
