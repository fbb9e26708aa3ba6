import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { RETENTION_DAYS } from '../../core/repository/tiers.ts';
import { VaultReplication } from '../../lib/constructs/replication.ts';
import { DrStack } from '../../lib/dr-stack.ts';
import {
  addOffsiteStack,
  DENIED_TO_SOURCE_ACCOUNT,
  DENIED_TO_SOURCE_ACCOUNT_CROSS_ACCOUNT,
} from '../../lib/offsite-stack.ts';
import { newApp, shippedRaw, testConfig } from './helpers.ts';

const SOURCE = '111111111111';
const OFFSITE = '222222222222';

/** Both stacks as bin/app.ts builds them. */
function buildApp(rawOffsite: Record<string, unknown> = {}, env: { account?: string; region?: string } = {}) {
  const app = newApp();
  const config = testConfig({ ...shippedRaw(), offsite: rawOffsite });
  const primary = new DrStack(app, 'CryptoStockDr', { config, env });
  const offsite = addOffsiteStack(app, primary, config.offsite, env.account);
  return {
    app,
    primary,
    offsite,
    primaryTemplate: Template.fromStack(primary),
    offsiteTemplate: Template.fromStack(offsite),
  };
}

function lockedBucket(template: Template): Record<string, any> {
  const found = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }));
  expect(found).toHaveLength(1);
  return (found[0] as { Properties: Record<string, any> }).Properties;
}

function bucketPolicyStatements(template: Template): any[] {
  const bucketId = Object.keys(
    template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }),
  )[0];
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')) as any[];
  return policies
    .filter((p) => p.Properties.Bucket.Ref === bucketId)
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v : [v]) as string[];

describe('OffsiteVaultStack (default config: same account, us-west-2)', () => {
  const { app, primary, offsite, primaryTemplate, offsiteTemplate } = buildApp();

  it('is a separate stack in us-west-2, deployed before the primary', () => {
    expect(offsite.region).toBe('us-west-2');
    expect(offsite.stackName).toBe('CryptoStockDrOffsite');
    expect(primary.dependencies).toContain(offsite);
  });

  it('has its own rotating KMS key with the alias the replication rule names', () => {
    offsiteTemplate.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    offsiteTemplate.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cryptostockdr/offsite' });
    expect(
      lockedBucket(offsiteTemplate).BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
    ).toEqual({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: { 'Fn::GetAtt': [expect.stringMatching(/VaultKey/), 'Arn'] },
    });
  });

  it('locks the bucket in COMPLIANCE mode for the longest tier by default (never shorter than a source lock), versioned, with a deterministic name', () => {
    const bucket = lockedBucket(offsiteTemplate);
    expect(bucket.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: RETENTION_DAYS.monthly } },
    });
    expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.BucketName).toEqual({
      'Fn::Join': ['', ['crypto-stock-dr-offsite-', { Ref: 'AWS::AccountId' }, '-us-west-2']],
    });
  });

  it("has exactly the primary vault's tag-based lifecycle, access logs and TLS-only policy", () => {
    expect(lockedBucket(offsiteTemplate).LifecycleConfiguration).toEqual(
      lockedBucket(primaryTemplate).LifecycleConfiguration,
    );
    expect(lockedBucket(offsiteTemplate).LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: expect.stringMatching(/AccessLogs/) },
      LogFilePrefix: 'backup-vault/',
    });
    expect(bucketPolicyStatements(offsiteTemplate)).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('denies the source account every delete and retention change (bucket settings stay manageable by CloudFormation in one account)', () => {
    const deny = bucketPolicyStatements(offsiteTemplate).find((s) => s.Sid === 'DenyDeletesFromSourceAccount');
    expect(deny).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Condition: { StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } },
    });
    expect([...asList(deny.Action)].sort()).toEqual([...DENIED_TO_SOURCE_ACCOUNT].sort());
    expect(deny.Action).toEqual(
      expect.arrayContaining(['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention']),
    );
    expect(deny.Resource).toHaveLength(2); // the bucket and every object
  });

  it('replicates backups/ from the primary vault: SSE-KMS objects under the offsite key, no delete markers, metrics on, no RTC', () => {
    const rules = lockedBucket(primaryTemplate).ReplicationConfiguration.Rules;
    expect(rules).toEqual([
      {
        Id: VaultReplication.RULE_ID,
        Status: 'Enabled',
        Priority: 1,
        Filter: { Prefix: 'backups/' },
        DeleteMarkerReplication: { Status: 'Disabled' },
        SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
        Destination: {
          Bucket: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':s3:::crypto-stock-dr-offsite-',
                { Ref: 'AWS::AccountId' },
                '-us-west-2',
              ],
            ],
          },
          EncryptionConfiguration: {
            ReplicaKmsKeyID: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':kms:us-west-2:',
                  { Ref: 'AWS::AccountId' },
                  ':alias/cryptostockdr/offsite',
                ],
              ],
            },
          },
          Metrics: { Status: 'Enabled' },
        },
      },
    ]);
    expect(lockedBucket(primaryTemplate).ReplicationConfiguration.Role).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/OffsiteReplicationRole/), 'Arn'],
    });
  });

  it('gives the replication role only replication reads on the source and replicate writes on the destination', () => {
    primaryTemplate.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'CryptoStockDr-offsite-replication',
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })] },
    });
    const policy = Object.values(primaryTemplate.findResources('AWS::IAM::Policy')).find((p: any) =>
      /OffsiteReplication/.test(JSON.stringify(p.Properties.Roles)),
    ) as any;
    const actions = policy.Properties.PolicyDocument.Statement.flatMap((s: any) => asList(s.Action));
    expect(actions.sort()).toEqual([
      'kms:Decrypt',
      'kms:Encrypt',
      'kms:GenerateDataKey',
      's3:GetObjectLegalHold',
      's3:GetObjectRetention',
      's3:GetObjectVersionAcl',
      's3:GetObjectVersionForReplication',
      's3:GetObjectVersionTagging',
      's3:GetReplicationConfiguration',
      's3:ListBucket',
      's3:ReplicateObject',
      's3:ReplicateTags',
    ]);
    const encrypt = policy.Properties.PolicyDocument.Statement.find((s: any) =>
      asList(s.Action).includes('kms:Encrypt'),
    );
    expect(encrypt.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' },
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/cryptostockdr/offsite' },
    });
  });

  it('alarms on failed replication and on latency above 1 h, notifying the alarm topic', () => {
    const dimensions = [
      {
        Name: 'DestinationBucket',
        Value: { 'Fn::Join': ['', ['crypto-stock-dr-offsite-', { Ref: 'AWS::AccountId' }, '-us-west-2']] },
      },
      { Name: 'RuleId', Value: VaultReplication.RULE_ID },
      { Name: 'SourceBucket', Value: { Ref: expect.stringMatching(/VaultBucket/) } },
    ];
    // The vault's rule (the PITR repository's own replication alarms: test/lib/hardening-12.test.ts).
    const alarms = Object.values(primaryTemplate.findResources('AWS::CloudWatch::Alarm'))
      .map((a: any) => a.Properties)
      .filter(
        (p) =>
          p.Namespace === 'AWS/S3' &&
          p.Dimensions.some((d: any) => d.Name === 'RuleId' && d.Value === VaultReplication.RULE_ID),
      );
    expect(alarms).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          MetricName: 'ReplicationLatency',
          Statistic: 'Maximum',
          Threshold: 3600,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
          Dimensions: dimensions,
          AlarmActions: [{ Ref: expect.stringMatching(/MonitoringTopic/) }],
        }),
        expect.objectContaining({
          MetricName: 'OperationsFailedReplication',
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Dimensions: dimensions,
          AlarmActions: [{ Ref: expect.stringMatching(/MonitoringTopic/) }],
        }),
      ]),
    );
    expect(alarms).toHaveLength(2);
  });

  it('passes cdk-nag on the offsite stack with zero unacknowledged findings, each acknowledgement reasoned', () => {
    const report = new AwsSolutionsChecks(app).validateScope(offsite);
    expect(
      report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
    ).toEqual([]);
    const acks = offsite.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) => Object.entries(m.data as Record<string, string>)),
      )
      .filter(([id]) => id.replace(/^annotation::/i, '').startsWith('AwsSolutions-'));
    expect(acks.map(([id]) => id.replace(/^annotation::/i, ''))).toEqual(['AwsSolutions-S1']);
    for (const [, reason] of acks) expect(reason.length).toBeGreaterThan(60);
  });
});

describe('OffsiteVaultStack in a second account, with Replication Time Control', () => {
  const { primaryTemplate, offsite, offsiteTemplate } = buildApp(
    { account: OFFSITE, region: 'eu-central-1', replicationTimeControl: true },
    { account: SOURCE, region: 'eu-west-1' },
  );

  it('lives in the offsite account and region with the account in the bucket name', () => {
    expect(offsite.account).toBe(OFFSITE);
    expect(offsite.region).toBe('eu-central-1');
    expect(lockedBucket(offsiteTemplate).BucketName).toBe(`crypto-stock-dr-offsite-${OFFSITE}-eu-central-1`);
  });

  it('also denies the source account any change to lifecycle, Object Lock, versioning, policy and replication settings', () => {
    const deny = bucketPolicyStatements(offsiteTemplate).find((s) => s.Sid === 'DenyDeletesFromSourceAccount');
    expect(deny.Condition).toEqual({ StringEquals: { 'aws:PrincipalAccount': SOURCE } });
    expect([...deny.Action].sort()).toEqual(
      [...DENIED_TO_SOURCE_ACCOUNT, ...DENIED_TO_SOURCE_ACCOUNT_CROSS_ACCOUNT].sort(),
    );
  });

  it("lets only the source account's replication role replicate in and encrypt with the offsite key", () => {
    const role = `arn:aws:iam::${SOURCE}:role/CryptoStockDr-offsite-replication`;
    const statements = bucketPolicyStatements(offsiteTemplate).filter((s) => s.Effect === 'Allow');
    expect(statements.map((s) => s.Sid).sort()).toEqual([
      'AllowReplicationChecks',
      'AllowReplicationFromSourceAccount',
    ]);
    for (const s of statements) {
      expect(s.Condition).toEqual({
        ArnEquals: {
          'aws:PrincipalArn': {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, `:iam::${SOURCE}:role/CryptoStockDr-offsite-replication`],
            ],
          },
        },
      });
      expect(JSON.stringify(s.Action)).not.toMatch(/Delete/);
    }
    expect(role).toContain(SOURCE);
    offsiteTemplate.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowReplicaEncryption',
            Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
            Condition: Match.objectLike({ StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' } }),
          }),
        ]),
      },
    });
  });

  it('names the destination account and turns on RTC with a 15-minute threshold and latency alarm', () => {
    const { Destination } = lockedBucket(primaryTemplate).ReplicationConfiguration.Rules[0];
    expect(Destination).toMatchObject({
      Account: OFFSITE,
      ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
      Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
    });
    primaryTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReplicationLatency',
      Threshold: 900,
    });
  });
});

describe('offsite configuration errors', () => {
  it('needs the source account for a second account', () => {
    expect(() => buildApp({ account: OFFSITE })).toThrow(
      'config offsite.account is set, so the offsite bucket policy must name the source account: run cdk with credentials of the primary account',
    );
  });

  it("refuses the primary's own region as the offsite region", () => {
    expect(() => buildApp({ region: 'eu-west-1' }, { account: SOURCE, region: 'eu-west-1' })).toThrow(
      /the destination region eu-west-1 is the vault's own region; choose another region \(config offsite\.region\)/,
    );
  });

  it('builds no replication and no offsite stack when disabled', () => {
    const app = newApp();
    const primary = new DrStack(app, 'P', { config: testConfig({ offsite: { enabled: false } }) });
    expect(primary.replication).toBeUndefined();
    expect(lockedBucket(Template.fromStack(primary)).ReplicationConfiguration).toBeUndefined();
    expect(app.node.children.filter((c) => c instanceof Stack)).toHaveLength(1);
  });
});
