/**
 * Issue 12 as template assertions: an administrator of the production account cannot destroy the
 * backups (bucket and key policies, locks, tamper rules), alarms reach a person (topic policy,
 * required subscription), drills never touch production, restores are bounded by the RTO, and an
 * example config never deploys.
 */
import { readFileSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { REPORT_LOCK_COMPLIANCE, ReportEnv } from '../../core/contract.ts';
import { EVIDENCE_RETENTION_DAYS } from '../../core/repository/tiers.ts';
import { PROTECTED_BUCKET_ACTIONS, PROTECTED_KEY_ACTIONS } from '../../lib/constructs/protection.ts';
import { MAX_EVIDENCE_LOCK_DAYS, MAX_LOCK_DAYS } from '../../lib/constructs/vault.ts';
import { DrStack } from '../../lib/dr-stack.ts';
import { addOffsiteStack } from '../../lib/offsite-stack.ts';
import { definitionOf } from './constructs/definition.ts';
import { buildStack, newApp, shippedRaw, testConfig } from './helpers.ts';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/dr-break-glass';
const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function buildAll(raw: Record<string, unknown> = {}) {
  const app = newApp();
  const config = testConfig({ ...shippedRaw(), breakGlassRoleArn: BREAK_GLASS, ...raw });
  const primary = new DrStack(app, 'CryptoStockDr', { config });
  const offsite = addOffsiteStack(app, primary, config.offsite, undefined, config.breakGlassRoleArn);
  return { primary, offsite, template: Template.fromStack(primary), offsiteTemplate: Template.fromStack(offsite) };
}

/** The statements of the bucket policy of the bucket whose logical id starts with `prefix`. */
function bucketPolicy(template: Template, prefix: string): any[] {
  const policies = Object.values(
    template.findResources('AWS::S3::BucketPolicy', {
      Properties: { Bucket: { Ref: Match.stringLikeRegexp(`^${prefix}`) } },
    }),
  ) as any[];
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement;
}

/** The key policy statements of the key whose logical id starts with `prefix`. */
function keyPolicy(template: Template, prefix: string): { key: any; statements: any[] } {
  const keys = Object.entries(template.findResources('AWS::KMS::Key'))
    .filter(([id]) => id.startsWith(prefix))
    .map(([, k]) => k) as any[];
  expect(keys).toHaveLength(1);
  return { key: keys[0], statements: keys[0].Properties.KeyPolicy.Statement };
}

const { primary, template, offsiteTemplate } = buildAll();

describe('§1 nobody but the break-glass role can weaken the vault, the PITR repository, the offsite copy or their keys', () => {
  it.each([
    ['vault', template, 'VaultBucket'],
    ['PITR repository', template, 'PitrRepositoryBucket'],
    ['offsite vault', offsiteTemplate, 'VaultBucket'],
  ] as const)(
    'the %s bucket policy denies deleting versions, bypassing governance and changing policy, lifecycle, Object Lock, replication and versioning to every principal but the break-glass role',
    (_name, t, prefix) => {
      const deny = bucketPolicy(t, prefix).find((st) => st.Sid === 'DenyProtectionChangesExceptBreakGlass');
      expect(deny).toMatchObject({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
      });
      expect([...asList(deny.Action)].sort()).toEqual([...PROTECTED_BUCKET_ACTIONS].sort());
      expect(PROTECTED_BUCKET_ACTIONS).toEqual(
        expect.arrayContaining([
          's3:DeleteObjectVersion',
          's3:BypassGovernanceRetention',
          's3:PutBucketPolicy',
          's3:DeleteBucketPolicy',
          's3:PutLifecycleConfiguration',
          's3:PutBucketObjectLockConfiguration',
          's3:PutReplicationConfiguration',
          's3:PutBucketVersioning',
        ]),
      );
      // The bucket and every object in it.
      expect(JSON.stringify(deny.Resource)).toMatch(/\/\*"\]\]\}/);
      expect(asList(deny.Resource)).toHaveLength(2);
    },
  );

  it.each([
    ['vault', template, 'VaultKey'],
    ['PITR', template, 'PitrRepositoryKey'],
    ['offsite', offsiteTemplate, 'VaultKey'],
  ] as const)(
    'the %s key denies ScheduleKeyDeletion, DisableKey, PutKeyPolicy and DeleteAlias to everyone but the break-glass role (lockout safety check bypassed on purpose)',
    (_name, t, prefix) => {
      const { key, statements } = keyPolicy(t, prefix);
      const deny = statements.find((st) => st.Effect === 'Deny');
      expect(deny).toMatchObject({
        Principal: { AWS: '*' },
        Resource: '*',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
      });
      expect([...asList(deny.Action)].sort()).toEqual([...PROTECTED_KEY_ACTIONS].sort());
      expect(key.Properties.BypassPolicyLockoutSafetyCheck).toBe(true);
    },
  );

  it("defaults the break-glass role to crypto-stock-dr-break-glass of the stack's own account", () => {
    const t = buildStack().template;
    const deny = bucketPolicy(t, 'VaultBucket').find((st) => st.Sid === 'DenyProtectionChangesExceptBreakGlass');
    expect(deny.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/crypto-stock-dr-break-glass'],
      ],
    });
  });

  it('the writer cannot overwrite a backup (If-None-Match required, multipart steps exempt), re-tag one, or lock beyond the longest tier', () => {
    const statements = bucketPolicy(template, 'VaultBucket');
    const backups = {
      'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] }, '/backups/*']],
    };
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Sid: 'DenyOverwritingBackups',
          Effect: 'Deny',
          Action: 's3:PutObject',
          Condition: {
            Null: { 's3:if-none-match': 'true' },
            StringNotEquals: {
              's3:ObjectCreationOperation': ['CreateMultipartUpload', 'UploadPart', 'UploadPartCopy'],
            },
          },
        }),
        expect.objectContaining({
          Sid: 'DenyRetaggingBackups',
          Effect: 'Deny',
          Action: ['s3:PutObjectTagging', 's3:PutObjectVersionTagging'],
          Condition: { Null: { 's3:ExistingObjectTag/retention': 'false' } },
        }),
        expect.objectContaining({
          Sid: 'DenyLocksBeyondTierMaximum',
          Effect: 'Deny',
          Action: ['s3:PutObject', 's3:PutObjectRetention'],
          Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': '181' } },
        }),
      ]),
    );
    expect(MAX_LOCK_DAYS).toBe(181);
    Template.fromJSON(template.toJSON()).hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Sid: 'DenyOverwritingBackups', Resource: backups })]),
      },
    });
  });

  it('the PITR repository keeps deleted versions at least as long as its retention (14 days by default)', () => {
    const bucket = Object.entries(template.findResources('AWS::S3::Bucket')).find(([id]) =>
      id.startsWith('PitrRepositoryBucket'),
    )![1] as any;
    expect(bucket.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({
        Id: 'expire-noncurrent-versions',
        NoncurrentVersionExpiration: { NoncurrentDays: 14 },
      }),
    );
  });

  it('an EventBridge rule notifies the alarm topic on policy, lifecycle, replication, versioning and Object Lock changes and on object deletes in the vault and PITR buckets', () => {
    const topic = { Ref: Match.stringLikeRegexp('^MonitoringTopic') };
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['s3.amazonaws.com'],
          eventName: Match.arrayWith([
            'PutBucketPolicy',
            'DeleteBucketPolicy',
            'PutBucketLifecycleConfiguration',
            'DeleteObject',
            'DeleteObjects',
          ]),
          requestParameters: {
            bucketName: [
              { Ref: Match.stringLikeRegexp('^VaultBucket') },
              { Ref: Match.stringLikeRegexp('^PitrRepositoryBucket') },
            ],
          },
        },
      },
      Targets: [Match.objectLike({ Arn: topic })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.kms'],
        detail: {
          eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DeleteAlias'],
          resources: {
            ARN: [
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] },
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillFunctionsReportSigningKey'), 'Arn'] },
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^PitrRepositoryKey'), 'Arn'] },
            ],
          },
        },
      },
      Targets: [Match.objectLike({ Arn: topic })],
    });
  });

  it("the offsite replica's default lock (COMPLIANCE) is never shorter than the longest lock the source writes", () => {
    const bucket = Object.values(
      offsiteTemplate.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }),
    )[0] as any;
    expect(bucket.Properties.ObjectLockConfiguration.Rule.DefaultRetention).toEqual({ Mode: 'COMPLIANCE', Days: 180 });
  });
});

describe('drill evidence that lasts (issue 15 §3): signed with KMS, locked for 400 days', () => {
  const { template } = buildAll();
  const keyId = (t: Template) =>
    Object.keys(t.findResources('AWS::KMS::Key', { Properties: { KeySpec: 'ECC_NIST_P256' } }));

  it('an asymmetric P-256 signing key, retained, that only the break-glass role may delete, disable or re-policy', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
    });
    const [id] = keyId(template) as [string];
    const key = template.toJSON().Resources[id];
    expect(key.Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Sid: 'DenyKeyDestructionExceptBreakGlass',
        Effect: 'Deny',
        Action: [...PROTECTED_KEY_ACTIONS].sort(),
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
      }),
    );
  });

  it('the report Lambda alone may Sign and GetPublicKey with it, and gets its ARN and the lock mode', () => {
    const [id] = keyId(template) as [string];
    const grants = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p: any) =>
      (p.Properties.PolicyDocument.Statement as any[])
        .filter((s) => asList(s.Resource).some((r) => JSON.stringify(r).includes(id)))
        .map((s) => ({ roles: p.Properties.Roles, actions: asList(s.Action) })),
    );
    expect(grants).toHaveLength(1);
    expect(grants[0]!.actions.sort()).toEqual(['kms:GetPublicKey', 'kms:Sign']);
    expect(JSON.stringify(grants[0]!.roles)).toMatch(/DrillFunctionsReport/);
    // Nor does the key policy let the Lambda (or anyone it names) do more: account root and the break-glass deny only.
    const { statements } = keyPolicy(template, id);
    expect(statements.filter((st) => st.Effect === 'Allow').map((st) => st.Principal)).toEqual([
      { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } },
    ]);
    // An auditor takes the public key from KMS by this ARN, not from the report.
    template.hasOutput('ReportSigningKeyArn', { Value: { 'Fn::GetAtt': [id, 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ReportEnv.signingKeyArn]: { 'Fn::GetAtt': [id, 'Arn'] },
          [ReportEnv.reportLock]: REPORT_LOCK_COMPLIANCE,
        }),
      },
    });
  });

  it('reports may be locked up to 401 days (backups still 181), carry PutObjectRetention, and expire only when their lock ends', () => {
    const statements = bucketPolicy(template, 'VaultBucket');
    const reports = {
      'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultBucket'), 'Arn'] }, '/reports/*']],
    };
    expect(EVIDENCE_RETENTION_DAYS).toBe(400);
    expect(MAX_EVIDENCE_LOCK_DAYS).toBe(401);
    Template.fromJSON({
      Resources: { P: { Type: 'AWS::S3::BucketPolicy', Properties: { PolicyDocument: { Statement: statements } } } },
    }).hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyLocksBeyondTierMaximum',
            NotResource: reports,
            Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': '181' } },
          }),
          Match.objectLike({
            Sid: 'DenyReportLocksBeyondEvidenceMaximum',
            Effect: 'Deny',
            Resource: reports,
            Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': '401' } },
          }),
        ]),
      },
    });
    const writes = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p: any) => p.Properties.PolicyDocument.Statement as any[])
      .filter(
        (s) => JSON.stringify(s.Resource ?? '').includes('/reports/*') && asList(s.Action).includes('s3:PutObject'),
      );
    expect(writes.length).toBeGreaterThan(0);
    for (const s of writes) expect(asList(s.Action)).toContain('s3:PutObjectRetention');
    // The report writer may set retention on reports/* and nowhere else.
    const reportPolicies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
      JSON.stringify(p.Properties.Roles).includes('DrillFunctionsReport'),
    ) as any[];
    const retention = reportPolicies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as any[])
      .filter((s) =>
        asList(s.Action).some((a) => a === 's3:PutObjectRetention' || a === 's3:*' || a === 's3:PutObject*'),
      );
    expect(retention.length).toBeGreaterThan(0);
    for (const s of retention) {
      expect(asList(s.Resource)).toHaveLength(1);
      expect(s.Resource).toEqual({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] }, '/reports/*']],
      });
    }
    const vault = Object.entries(template.findResources('AWS::S3::Bucket')).find(([id]) =>
      id.startsWith('VaultBucket'),
    )![1] as any;
    expect(vault.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({
        Id: 'expire-evidence',
        ExpirationInDays: 401,
        TagFilters: [{ Key: 'retention', Value: 'evidence' }],
      }),
    );
  });
});

describe('§2 alarms reach a person', () => {
  it('the topic policy lets CloudWatch alarms and EventBridge rules of this account publish (SourceAccount and SourceArn), besides the TLS deny', () => {
    const policy = Object.values(template.findResources('AWS::SNS::TopicPolicy'))[0] as any;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    for (const [service, arnService, resource] of [
      ['cloudwatch.amazonaws.com', 'cloudwatch', 'alarm:*'],
      ['events.amazonaws.com', 'events', 'rule/*'],
    ]) {
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: service },
          Action: 'sns:Publish',
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: {
              'aws:SourceArn': {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    `:${arnService}:`,
                    { Ref: 'AWS::Region' },
                    ':',
                    { Ref: 'AWS::AccountId' },
                    `:${resource}`,
                  ],
                ],
              },
            },
          },
        }),
      );
    }
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('with alertTopicArn every alarm and both tamper rules also notify that topic', () => {
    const arn = 'arn:aws:sns:us-east-1:123456789012:on-call';
    const t = buildStack({ alertTopicArn: arn }).template;
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')) as any[];
    expect(alarms.length).toBeGreaterThan(10);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toContain(arn);
    const rules = Object.values(
      t.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: { 'detail-type': ['AWS API Call via CloudTrail'] } },
      }),
    ) as any[];
    expect(rules).toHaveLength(2);
    for (const rule of rules) expect(rule.Properties.Targets.map((x: any) => x.Arn)).toContain(arn);
  });
});

describe('§3 a drill never touches production', () => {
  it('a drill that times out or is aborted runs the cleanup sweep of the staging server', () => {
    const cleanup = primary.resolve(primary.drillFunctions.cleanup.functionArn);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['TIMED_OUT', 'ABORTED'],
          stateMachineArn: [{ Ref: Match.stringLikeRegexp('^DrillWorkflowStateMachine') }],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: cleanup,
          InputTransformer: {
            InputPathsMap: { 'detail-startDate': '$.detail.startDate' },
            InputTemplate: '{"sweepBefore":<detail-startDate>,"host":"staging-db.internal.example","port":5432}',
          },
        }),
      ],
    });
  });

  it('the drill timeout grows with the databases: each needs its restore timeout (2 x RTO) plus an hour of steps', () => {
    const timeoutOf = (raw: Record<string, unknown>) =>
      definitionOf(buildStack(raw).template, 'DrillWorkflow').TimeoutSeconds;
    const one = Number(timeoutOf({}));
    const three = Number(
      timeoutOf({
        databases: [
          { name: 'a', host: 'h1' },
          { name: 'b', host: 'h2' },
          { name: 'c', host: 'h3' },
        ],
      }),
    );
    expect(one).toBe(2 * 3600 + 3600 + 3600);
    expect(three).toBe(3 * (2 * 3600 + 3600) + 3600);
  });
});

describe('§4 restores are bounded by the RTO, and stopped executions alarm', () => {
  it('the restore task times out at twice the RTO', () => {
    const definition = JSON.stringify(
      primary.resolve((primary.restoreWorkflow.stateMachine.node.defaultChild as any).definitionString),
    );
    expect(definition).toContain('\\"TimeoutSeconds\\":7200,\\"ResultPath\\":\\"$.task\\"');
    const slow = buildStack({ rtoSeconds: 4 * 3600 }).stack;
    expect(
      JSON.stringify(slow.resolve((slow.restoreWorkflow.stateMachine.node.defaultChild as any).definitionString)),
    ).toContain('\\"TimeoutSeconds\\":28800,\\"ResultPath\\":\\"$.task\\"');
  });

  it('alarms on ExecutionsTimedOut and ExecutionsAborted of every state machine, notifying the topic', () => {
    for (const machine of [primary.backupWorkflow, primary.restoreWorkflow, primary.drillWorkflow].map(
      (w) => w.stateMachine,
    )) {
      for (const metric of ['ExecutionsTimedOut', 'ExecutionsAborted']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: metric,
          Namespace: 'AWS/States',
          Statistic: 'Sum',
          Threshold: 1,
          Dimensions: [{ Name: 'StateMachineArn', Value: primary.resolve(machine.stateMachineArn) }],
          AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringTopic') }],
        });
      }
    }
  });
});

describe('§5 an example config synthesizes but never deploys', () => {
  it('the example stack has a rule whose assertion always fails, naming the config to write, and a warning listing the placeholders', () => {
    const rules = template.toJSON().Rules as Record<string, any>;
    const rule = rules.ExampleConfigCannotDeploy;
    expect(rule.Assertions).toEqual([
      {
        Assert: { 'Fn::Equals': ['example-config', 'deployable-config'] },
        AssertDescription: expect.stringContaining('-c configFile=<your config>.json'),
      },
    ]);
    expect(rule.Assertions[0].AssertDescription).toContain('databases[0].host ("db.internal.example")');
    const warnings = primary.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
    expect(warnings.some((w) => w.includes('EXAMPLE config') && w.includes('offsite.account (missing'))).toBe(true);
  });

  it('a deployable config has no such rule', () => {
    const stack = new DrStack(newApp(), 'Real', {
      config: testConfig({
        example: false,
        databases: [{ name: 'crypto_stock', host: 'db.prod.internal', secret: 'crypto-stock/db' }],
        drill: { scratchServer: { host: 'staging.db.internal', secret: 'crypto-stock/staging-db' } },
        alertEmail: 'oncall@corp.test',
        offsite: { allowSameAccount: true },
      }),
    });
    expect(Template.fromStack(stack).toJSON().Rules?.ExampleConfigCannotDeploy).toBeUndefined();
    expect(Stack.of(stack).node.metadata.filter((m) => String(m.data).includes('EXAMPLE config'))).toEqual([]);
  });
});

describe("issue 11 §7: the job image installs production's TimescaleDB version", () => {
  it('passes config timescaleVersion (default 2.28.3) and postgresMajorVersion to the image build as TIMESCALEDB_VERSION and PG_MAJOR', () => {
    /** The job image's docker build arguments, as the asset manifest hands them to `docker build`. */
    const buildArgsOf = (raw: Record<string, unknown>) => {
      const app = newApp();
      new DrStack(app, 'Image', { config: testConfig({ ...shippedRaw(), offsite: { enabled: false }, ...raw }) });
      const assembly = app.synth();
      const manifests = assembly.artifacts.filter(
        (a): a is cxapi.AssetManifestArtifact => a instanceof cxapi.AssetManifestArtifact,
      );
      const images = manifests.flatMap((m) =>
        Object.values(JSON.parse(readFileSync(m.file, 'utf8')).dockerImages ?? {}),
      ) as any[];
      return images.map((image) => image.source.dockerBuildArgs);
    };
    expect(buildArgsOf({})).toEqual([{ PG_MAJOR: '15', TIMESCALEDB_VERSION: '2.28.3' }]);
    expect(buildArgsOf({ timescaleVersion: '2.17.2', postgresMajorVersion: 16 })).toEqual([
      { PG_MAJOR: '16', TIMESCALEDB_VERSION: '2.17.2' },
    ]);
  });
});
