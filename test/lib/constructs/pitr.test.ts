import { type App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { JobEnv, Metrics, RpoWatchEnv } from '../../../core/contract.ts';
import { DrJob } from '../../../lib/constructs/job.ts';
import { PitrRepository } from '../../../lib/constructs/pitr-repository.ts';
import { RpoWatch } from '../../../lib/constructs/rpo-watch.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { newApp, onlyResource } from '../helpers.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** cdk.json's context, without esbuild bundling of the Lambda (test/lambdas runs the handler itself). */
function appWithoutBundling(): App {
  const app = newApp();
  app.node.setContext('aws:cdk:bundling-stacks', []);
  return app;
}

function pitrStack(rpoWatchProps: Partial<ConstructorParameters<typeof RpoWatch>[2]> = {}) {
  const app = appWithoutBundling();
  const stack = new Stack(app, 'Pitr', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vault = new BackupVault(stack, 'Vault');
  const repository = new PitrRepository(stack, 'PitrRepository', { accessLogsBucket: vault.accessLogsBucket });
  const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true, masterKey: vault.key });
  const watch = new RpoWatch(stack, 'RpoWatch', {
    repository,
    stanza: 'crypto_stock',
    alarmTopic: topic,
    ...rpoWatchProps,
  });
  const job = new DrJob(stack, 'Job', {
    vault,
    databases: [
      {
        name: 'crypto_stock',
        host: 'db.internal.example',
        port: 5432,
        secret: secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'crypto-stock/db'),
      },
    ],
    image: ecs.ContainerImage.fromRegistry('example/dr-job:test'),
    ephemeralStorageGiB: 100,
    pitr: { repository, stanza: 'crypto_stock' },
  });
  return { app, stack, vault, repository, watch, job, template: Template.fromStack(stack) };
}

/** The statements of the IAM policies (inline or managed) whose logical id matches `owner`. */
function statementsOf(
  template: Template,
  type: 'AWS::IAM::Policy' | 'AWS::IAM::ManagedPolicy',
  owner: RegExp,
): Statement[] {
  return Object.entries(template.findResources(type))
    .filter(([id]) => owner.test(id))
    .flatMap(
      ([, r]) =>
        (r as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
const PITR_OBJECTS = {
  'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^PitrRepositoryBucket/), 'Arn'] }, '/pitr/*']],
};
const PITR_PREFIX_CONDITION = { StringLike: { 's3:prefix': ['pitr/', 'pitr/*'] } };

describe('PitrRepository', () => {
  const { template, stack } = pitrStack();
  const bucket = onlyResource(template, 'AWS::S3::Bucket', {
    VersioningConfiguration: { Status: 'Enabled' },
    LoggingConfiguration: { LogFilePrefix: 'pitr-repository/' },
  }).Properties;

  it("is a versioned, KMS-encrypted bucket WITHOUT Object Lock, logging to the vault's access-log bucket", () => {
    expect(bucket.ObjectLockEnabled).toBeUndefined();
    expect(bucket.ObjectLockConfiguration).toBeUndefined();
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: {
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: { 'Fn::GetAtt': [expect.stringMatching(/^PitrRepositoryKey/), 'Arn'] },
        },
      },
    ]);
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.LoggingConfiguration.DestinationBucketName).toEqual({
      Ref: expect.stringMatching(/^VaultAccessLogs/),
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      Description: Match.stringLikeRegexp('pgBackRest'),
      EnableKeyRotation: true,
    });
  });

  it('leaves retention to pgBackRest: lifecycle only for noncurrent versions (kept 14 days, the default recovery window) and incomplete uploads, no tag rules', () => {
    expect(bucket.LifecycleConfiguration.Rules).toEqual([
      {
        Id: 'expire-noncurrent-versions',
        Status: 'Enabled',
        NoncurrentVersionExpiration: { NoncurrentDays: 14 },
        ExpiredObjectDeleteMarker: true,
      },
      { Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
    ]);
  });

  it('refuses TLS-less requests', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^PitrRepositoryBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('host policy: list pitr/, get/put/delete objects under pitr/ only, the repository key; never versions, never the vault', () => {
    const statements = statementsOf(template, 'AWS::IAM::ManagedPolicy', /^PitrRepositoryHostPolicy/);
    expect(statements).toEqual([
      {
        Sid: 'ListRepository',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^PitrRepositoryBucket/), 'Arn'] },
        Condition: PITR_PREFIX_CONDITION,
      },
      {
        Sid: 'ReadWriteExpireRepository',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: PITR_OBJECTS,
      },
      {
        Sid: 'RepositoryKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^PitrRepositoryKey/), 'Arn'] },
      },
    ]);
    expect(JSON.stringify(statements)).not.toMatch(/Vault|DeleteObjectVersion|PutObjectRetention|BypassGovernance/);
  });

  it('outputs nothing by itself but exposes the repository URL s3://<bucket>/pitr', () => {
    const { repository } = pitrStack();
    expect(Stack.of(repository).resolve(repository.url)).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^PitrRepositoryBucket/) }, '/pitr']],
    });
    expect(stack.node.tryFindChild('PitrRepository')).toBeDefined();
  });

  it('refuses a noncurrent-version expiry that is not whole days, saying how to fix it', () => {
    const stack2 = new Stack(newApp(), 'Bad');
    expect(() => new PitrRepository(stack2, 'Repo', { noncurrentVersionExpiration: Duration.hours(12) })).toThrow(
      'PitrRepository Bad/Repo: noncurrentVersionExpiration is 12 hours; S3 counts whole days, so pass Duration.days(n) with n >= 1',
    );
  });
});

describe('RpoWatch', () => {
  const { template } = pitrStack();
  const fn = onlyResource(template, 'AWS::Lambda::Function', {
    Description: Match.stringLikeRegexp('archived WAL'),
  }).Properties;

  it('runs lambdas/rpo-watch every minute with the repository URL and stanza, no retries', () => {
    expect(fn.Environment.Variables).toMatchObject({
      [RpoWatchEnv.repo]: {
        'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^PitrRepositoryBucket/) }, '/pitr']],
      },
      [RpoWatchEnv.stanza]: 'crypto_stock',
    });
    const rule = onlyResource(template, 'AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' }).Properties;
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [expect.stringMatching(/^RpoWatchFunction/), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 0 },
      }),
    ]);
  });

  it('may list pitr/ and head objects under it, without the key (it cannot read WAL content)', () => {
    const statements = statementsOf(template, 'AWS::IAM::Policy', /^RpoWatchFunction/);
    const s3 = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([
      expect.objectContaining({ Action: 's3:ListBucket', Condition: PITR_PREFIX_CONDITION }),
      expect.objectContaining({ Action: 's3:GetObject', Resource: PITR_OBJECTS }),
    ]);
    expect(actionsOf(statements).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  it('alarms when WAL is older than the RPO, the base backup older than 8 days, or either is missing', () => {
    const alarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: Metrics.namespace } }),
    ).map((r) => (r as { Properties: Record<string, any> }).Properties);
    const byMetric = Object.fromEntries(alarms.map((a) => [a.MetricName, a]));
    expect(Object.keys(byMetric).sort()).toEqual(
      [
        Metrics.archiverFailing,
        Metrics.baseBackupAgeSeconds,
        Metrics.walArchiveAgeSeconds,
        Metrics.walArchiveGaps,
      ].sort(),
    );
    expect(byMetric[Metrics.walArchiveGaps]).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(byMetric[Metrics.archiverFailing]).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'breaching',
    });
    for (const [metric, threshold] of [
      [Metrics.walArchiveAgeSeconds, 300],
      [Metrics.baseBackupAgeSeconds, 8 * 86400],
    ] as const) {
      expect(byMetric[metric]).toMatchObject({
        Dimensions: [{ Name: Metrics.stanzaDimension, Value: 'crypto_stock' }],
        Statistic: 'Maximum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: expect.stringMatching(/^Topic/) }],
        OKActions: [{ Ref: expect.stringMatching(/^Topic/) }],
      });
    }
    expect(byMetric[Metrics.walArchiveAgeSeconds].AlarmDescription).toContain('pgbackrest --stanza=crypto_stock check');
  });

  it('takes the RPO target and base backup age from props', () => {
    const { template: t } = pitrStack({
      rpo: Duration.minutes(2),
      baseBackupMaxAge: Duration.days(2),
      interval: Duration.minutes(5),
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: Metrics.walArchiveAgeSeconds, Threshold: 120 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: Metrics.baseBackupAgeSeconds, Threshold: 172800 });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
  });

  it.each([
    [
      'stanza',
      { stanza: 'a b' },
      'stanza "a b" is not a pgBackRest stanza name; use letters, digits, _, - and . as in pgbackrest.conf (e.g. crypto_stock)',
    ],
    ['rpo', { rpo: Duration.seconds(30) }, 'rpo is 30 seconds; use 1 minute to 1 day'],
    ['interval', { interval: Duration.minutes(10) }, 'interval is 10 minutes; use whole minutes from 1 to 5'],
    [
      'baseBackupMaxAge',
      { baseBackupMaxAge: Duration.hours(6) },
      'baseBackupMaxAge is 6 hours; use at least Duration.days(1)',
    ],
  ])('refuses a bad %s with a message saying how to fix it', (_name, props, message) => {
    expect(() => pitrStack(props)).toThrow(`RpoWatch Pitr/RpoWatch: ${message}`);
  });
});

describe('DrJob with PITR', () => {
  const { template, stack, job } = pitrStack();
  const taskDef = (t: ecs.TaskDefinition) =>
    template.toJSON().Resources[stack.resolve(t.taskDefinitionArn).Ref].Properties;
  const environment = (t: ecs.TaskDefinition) =>
    Object.fromEntries(
      taskDef(t).ContainerDefinitions[0].Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]),
    );

  it('gets the configured ephemeral storage, and the PITR repository and stanza from the restore task definition only', () => {
    expect(taskDef(job.restore.taskDefinition).EphemeralStorage).toEqual({ SizeInGiB: 100 });
    const env = environment(job.restore.taskDefinition);
    expect(env[JobEnv.pitrRepo]).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^PitrRepositoryBucket/) }, '/pitr']],
    });
    expect(env[JobEnv.pitrStanza]).toBe('crypto_stock');
    expect(environment(job.backup.taskDefinition)[JobEnv.pitrRepo]).toBeUndefined();
  });

  it('the restore role may read the PITR repository and decrypt it, but not write or delete there; the backup role cannot touch it', () => {
    const statements = statementsOf(template, 'AWS::IAM::Policy', /^JobRestoreTaskDefinitionTaskRole/);
    const onPitr = statements.filter((s) => JSON.stringify(s.Resource).includes('PitrRepository'));
    expect(actionsOf(onPitr)).toEqual(['kms:Decrypt', 's3:GetObject', 's3:ListBucket']);
    const backup = statementsOf(template, 'AWS::IAM::Policy', /^JobTaskDefinitionTaskRole/);
    expect(backup.length).toBeGreaterThan(0);
    expect(backup.filter((s) => JSON.stringify(s.Resource).includes('PitrRepository'))).toEqual([]);
  });

  it("refuses ephemeral storage outside Fargate's 21..200 GiB, saying how to fix it", () => {
    const stack = new Stack(newApp(), 'Bad');
    const vault = new BackupVault(stack, 'Vault');
    const make = (ephemeralStorageGiB: number) =>
      new DrJob(stack, `Job${ephemeralStorageGiB}`, {
        vault,
        databases: [
          {
            name: 'db',
            host: 'h',
            port: 5432,
            secret: secretsmanager.Secret.fromSecretNameV2(stack, `S${ephemeralStorageGiB}`, 's'),
          },
        ],
        image: ecs.ContainerImage.fromRegistry('example/dr-job:test'),
        ephemeralStorageGiB,
      });
    expect(() => make(20)).toThrow(
      "DrJob Bad/Job20: ephemeralStorageGiB is 20; use a whole number from 21 to 200 (Fargate's range), or leave it out for the default 20 GiB",
    );
    expect(() => make(201)).toThrow('ephemeralStorageGiB is 201; use a whole number from 21 to 200');
  });
});

describe('cdk-nag on the PITR constructs', () => {
  it('has no unacknowledged AwsSolutions findings on the repository, host policy and RPO watch, and every acknowledgement has a reason', () => {
    const { app, stack, repository, watch } = pitrStack();
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    const ours = report.violations
      .map((v) => ({
        rule: v.ruleName,
        paths: v.violatingResources.map((r) => r.constructPath).filter((p) => /PitrRepository|RpoWatch/.test(p ?? '')),
      }))
      .filter((v) => v.paths.length > 0);
    expect(ours).toEqual([]);
    const acks = [repository, watch]
      .flatMap((scope) => scope.node.findAll())
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) => Object.values(m.data as Record<string, string>)),
      );
    expect(acks.length).toBeGreaterThan(0);
    for (const reason of acks) expect(reason.length).toBeGreaterThan(60);
  });
});
