import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { JOB_CONTAINER_NAME, JobEnv, secretEnvVarFor } from '../../../core/contract.ts';
import { DrJob } from '../../../lib/constructs/job.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { buildStack, newApp } from '../helpers.ts';

describe('DrJob in the stack', () => {
  const { template, stack } = buildStack({
    databases: [
      { name: 'crypto_stock', host: 'db.internal.example' },
      {
        name: 'market-ticks',
        host: 'ticks.internal.example',
        port: 5433,
        secret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ticks-AbCdEf',
      },
    ],
    sslMode: 'verify-full',
    job: { cpu: 2048, memoryMiB: 4096 },
  });
  /** A task definition's properties, found by its construct (never by a hashed logical id). */
  const propertiesOf = (taskDefinition: ecs.TaskDefinition) =>
    template.toJSON().Resources[stack.resolve(taskDefinition.taskDefinitionArn).Ref].Properties;
  const taskDef = propertiesOf(stack.job.backup.taskDefinition);
  const container = taskDef.ContainerDefinitions[0];
  const restoreTaskDef = propertiesOf(stack.job.restore.taskDefinition);
  const restoreContainer = restoreTaskDef.ContainerDefinitions[0];
  const environmentOf = (c: { Environment: { Name: string; Value: unknown }[] }) =>
    Object.fromEntries(c.Environment.map((e) => [e.Name, e.Value]));
  /** Every action of the task role's policies. */
  const taskRoleActions = (t: Record<string, any>) =>
    Object.values(
      template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: t.TaskRoleArn['Fn::GetAtt'][0] }] } }),
    ).flatMap((p: any) => p.Properties.PolicyDocument.Statement as Record<string, any>[]);

  it('enables Container Insights on the cluster (containerInsightsV2)', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('has three Fargate task definitions (backup, restore, drill) sized from config, each with one container named by the contract', () => {
    template.resourceCountIs('AWS::ECS::TaskDefinition', 3);
    for (const t of [taskDef, restoreTaskDef]) {
      // Both get the configured ephemeral storage: a backup keeps its whole dump on local disk too.
      expect(t).toMatchObject({
        RequiresCompatibilities: ['FARGATE'],
        Cpu: '2048',
        Memory: '4096',
        NetworkMode: 'awsvpc',
        EphemeralStorage: { SizeInGiB: 100 },
      });
      expect(t.ContainerDefinitions).toHaveLength(1);
      expect(t.ContainerDefinitions[0]).toMatchObject({ Name: JOB_CONTAINER_NAME, Essential: true });
      expect(t.ContainerDefinitions[0].Image).toEqual(container.Image);
    }
    expect(stack.job.restore.container.containerName).toBe(JOB_CONTAINER_NAME);
    // Separate task roles: the restore one cannot write backups.
    expect(restoreTaskDef.TaskRoleArn).not.toEqual(taskDef.TaskRoleArn);
  });

  it('sets repo, KMS key, sslmode, jobs and Object Lock in the backup environment, PITR only in the restore one', () => {
    const env = environmentOf(container);
    expect(Object.keys(env).sort()).toEqual(
      [JobEnv.kmsKeyId, JobEnv.repo, JobEnv.sslMode, JobEnv.sslRootCert, JobEnv.jobs, JobEnv.objectLock].sort(),
    );
    expect(env[JobEnv.objectLock]).toBe('tiered');
    const restoreEnv = environmentOf(restoreContainer);
    expect(Object.keys(restoreEnv).sort()).toEqual(
      [
        JobEnv.kmsKeyId,
        JobEnv.repo,
        JobEnv.sslMode,
        JobEnv.sslRootCert,
        JobEnv.jobs,
        JobEnv.pitrRepo,
        JobEnv.pitrStanza,
      ].sort(),
    );
    for (const name of [JobEnv.repo, JobEnv.kmsKeyId, JobEnv.sslMode, JobEnv.jobs])
      expect(restoreEnv[name]).toEqual(env[name]);
    expect(env[JobEnv.repo]).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/VaultBucket/) }, '/']],
    });
    expect(env[JobEnv.kmsKeyId]).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/VaultKey/), 'Arn'] });
    expect(env[JobEnv.sslMode]).toBe('verify-full');
    expect(env[JobEnv.jobs]).toBe('2');
  });

  it('injects each database secret as an ECS secret (ValueFrom), never as plain environment', () => {
    // The restore container gets the database secrets, never the drills' staging server secret (the drill task definition has only that one).
    expect(restoreContainer.Secrets).toEqual(container.Secrets);
    expect(container.Secrets).toEqual([
      { Name: secretEnvVarFor('crypto_stock'), ValueFrom: expect.objectContaining({ 'Fn::Join': expect.anything() }) },
      {
        Name: secretEnvVarFor('market-ticks'),
        ValueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ticks-AbCdEf',
      },
    ]);
    expect(JSON.stringify(container.Secrets[0].ValueFrom)).toContain(':secret:crypto-stock/db');
    const plainNames = container.Environment.map((e: { Name: string }) => e.Name);
    expect(plainNames.filter((n: string) => n.startsWith('DR_SECRET_'))).toEqual([]);
  });

  it('logs to a log group with a retention (one group, a stream prefix per task definition)', () => {
    expect(container.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: { 'awslogs-group': { Ref: expect.stringMatching(/Logs/) }, 'awslogs-stream-prefix': 'backup' },
    });
    expect(restoreContainer.LogConfiguration.Options).toEqual({
      ...container.LogConfiguration.Options,
      'awslogs-stream-prefix': 'restore',
    });
    const groups = template.findResources('AWS::Logs::LogGroup');
    expect(groups[container.LogConfiguration.Options['awslogs-group'].Ref]!.Properties.RetentionInDays).toBe(90);
  });

  it('gives neither task role a delete permission anywhere; only the backup role may write backups/', () => {
    for (const t of [taskDef, restoreTaskDef]) {
      const actions = taskRoleActions(t).flatMap((s) => [s.Action].flat() as string[]);
      expect(actions.some((a) => /delete/i.test(a) || a === 's3:*' || a === '*')).toBe(false);
      expect(actions).toContain('s3:PutObject');
      expect(JSON.stringify(template.toJSON().Resources[t.TaskRoleArn['Fn::GetAtt'][0]])).not.toMatch(/Delete/);
    }
    const puts = (t: Record<string, any>) =>
      taskRoleActions(t)
        .filter((s) => [s.Action].flat().includes('s3:PutObject'))
        .map((s) => JSON.stringify(s.Resource));
    expect(puts(taskDef)).toEqual([expect.stringMatching(/\/backups\/\*"\]\]\}$/)]);
    expect(puts(restoreTaskDef)).toEqual([expect.stringMatching(/\/results\/restores\/\*"\]\]\}$/)]);
  });

  it('runs in a created VPC with private subnets and flow logs, under its own security group', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
    // Each rule on its own: CDK orders inline rules its own way (where HTTPS may go: test/lib/hardening-12.test.ts).
    for (const port of [5432, 5433]) {
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: Match.stringLikeRegexp('backup job'),
        SecurityGroupEgress: Match.arrayWith([Match.objectLike({ IpProtocol: 'tcp', FromPort: port, ToPort: port })]),
      });
    }
    // HTTPS to the endpoints' group and the S3 prefix list: separate egress resources (they reference other resources).
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('SecurityGroup'), 'GroupId'] },
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
    });
  });

  it('builds the default image from job/Dockerfile with PG_MAJOR from config', () => {
    const stack = new Stack(newApp(), 'ImageTest');
    const job = new DrJob(stack, 'Job', {
      vault: new BackupVault(stack, 'Vault'),
      databases: [
        { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's') },
      ],
      postgresMajorVersion: 16,
    });
    const images = Object.values(dockerImageAssets(stack));
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({
      dockerFile: 'job/Dockerfile',
      dockerBuildArgs: { PG_MAJOR: '16' },
      platform: 'linux/amd64',
    });
    // The build context holds only what the Dockerfile copies.
    const context = join(assemblyDir(stack), images[0]!.source.directory);
    expect(readdirSync(context).sort()).toEqual([
      '.dockerignore',
      'bin',
      'core',
      'job',
      'package-lock.json',
      'package.json',
      'tsconfig.json',
    ]);
    expect(existsSync(join(context, 'job', 'Dockerfile'))).toBe(true);
    expect(job.backup.container.containerName).toBe(JOB_CONTAINER_NAME);
  });
});

describe('DrJob props', () => {
  function make(overrides: Record<string, unknown>) {
    const stack = new Stack(newApp(), 'Props');
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's');
    return () =>
      new DrJob(stack, 'Job', {
        vault: new BackupVault(stack, 'Vault'),
        databases: [{ name: 'db', host: 'h', port: 5432, secret }],
        image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
        ...overrides,
      });
  }

  it('rejects an empty database list', () => {
    expect(make({ databases: [] })).toThrow(
      'DrJob Props/Job: databases is empty; pass at least one database to back up',
    );
  });

  it('rejects names that map to the same secret variable', () => {
    const stack = new Stack(newApp(), 'Dup');
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's');
    expect(
      () =>
        new DrJob(stack, 'Job', {
          vault: new BackupVault(stack, 'Vault'),
          databases: [
            { name: 'a-b', host: 'h', port: 5432, secret },
            { name: 'a_b', host: 'h', port: 5432, secret },
          ],
        }),
    ).toThrow('databases "a-b" and "a_b" both map to secret variable DR_SECRET_A_B; rename one');
  });

  it('rejects dumpJobs < 1', () => {
    expect(make({ dumpJobs: 0 })).toThrow('dumpJobs is 0; use an integer >= 1');
  });

  it('uses a given VPC instead of creating one', () => {
    const stack = new Stack(newApp(), 'GivenVpc');
    const vpc = new ec2.Vpc(stack, 'Existing', { restrictDefaultSecurityGroup: false });
    const job = new DrJob(stack, 'Job', {
      vault: new BackupVault(stack, 'Vault'),
      databases: [
        { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's') },
      ],
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
      vpc,
    });
    expect(job.vpc).toBe(vpc);
    expect(stack.node.findAll().filter((c) => c instanceof ec2.Vpc)).toHaveLength(1);
  });
});

function assemblyDir(stack: Stack): string {
  return (stack.node.root as App).synth().directory;
}

/** The docker image assets of the synthesized asset manifest. */
function dockerImageAssets(
  stack: Stack,
): Record<string, { source: { directory: string; dockerFile: string; dockerBuildArgs: Record<string, string> } }> {
  const manifest = JSON.parse(readFileSync(join(assemblyDir(stack), `${stack.artifactId}.assets.json`), 'utf8'));
  return manifest.dockerImages;
}
