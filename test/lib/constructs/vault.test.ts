import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { RETENTION_DAYS } from '../../../core/repository/tiers.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { newApp } from '../helpers.ts';

function vaultStack(): { stack: Stack; vault: BackupVault; role: iam.Role; template: () => Template } {
  const stack = new Stack(newApp(), 'VaultTest');
  const vault = new BackupVault(stack, 'Vault');
  const role = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  return { stack, vault, role, template: () => Template.fromStack(stack) };
}

/** The vault bucket: the one with Object Lock (the access log bucket has none). */
function vaultBucketProps(template: Template): Record<string, any> {
  const buckets = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }));
  expect(buckets).toHaveLength(1);
  return (buckets[0] as { Properties: Record<string, any> }).Properties;
}

describe('BackupVault', () => {
  const { template } = vaultStack();
  const t = template();

  it('creates a customer-managed key with rotation, retained with the stack', () => {
    t.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
  });

  it('versions the bucket, enables Object Lock without default retention, blocks public access', () => {
    const props = vaultBucketProps(t);
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(props.ObjectLockEnabled).toBe(true);
    expect(props.ObjectLockConfiguration).toBeUndefined();
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('encrypts with SSE-KMS under the vault key, with a bucket key', () => {
    expect(vaultBucketProps(t).BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: { 'Fn::GetAtt': [expect.stringMatching(/Key/), 'Arn'] },
          },
        },
      ],
    });
  });

  it('logs access to a separate SSE-S3, TLS-only, non-public bucket', () => {
    const logging = vaultBucketProps(t).LoggingConfiguration;
    expect(logging.DestinationBucketName).toEqual({ Ref: expect.stringMatching(/AccessLogs/) });
    const logs = t.toJSON().Resources[logging.DestinationBucketName.Ref].Properties;
    expect(logs.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({
      SSEAlgorithm: 'AES256',
    });
    expect(logs.PublicAccessBlockConfiguration.BlockPublicAcls).toBe(true);
    expect(logs.LoggingConfiguration).toBeUndefined();
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logging.DestinationBucketName.Ref },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('denies every request without TLS on the vault bucket', () => {
    const bucketPolicies = Object.values(t.findResources('AWS::S3::BucketPolicy')) as {
      Properties: Record<string, any>;
    }[];
    const vaultPolicy = bucketPolicies.find((p) => !JSON.stringify(p.Properties.Bucket).includes('AccessLogs'));
    expect(vaultPolicy?.Properties.PolicyDocument.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Principal: { AWS: '*' },
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      ]),
    );
  });

  it('expires objects by retention tag: daily 7, weekly 28, monthly 180 days', () => {
    const rules = vaultBucketProps(t).LifecycleConfiguration.Rules as Record<string, any>[];
    const byTag = (tier: string) =>
      rules.find((r) => r.TagFilters?.some((f: any) => f.Key === 'retention' && f.Value === tier));
    expect(byTag('daily')).toMatchObject({ ExpirationInDays: 7, Status: 'Enabled' });
    expect(byTag('weekly')).toMatchObject({ ExpirationInDays: 28, Status: 'Enabled' });
    expect(byTag('monthly')).toMatchObject({ ExpirationInDays: 180, Status: 'Enabled' });
    expect([7, 28, 180]).toEqual([RETENTION_DAYS.daily, RETENTION_DAYS.weekly, RETENTION_DAYS.monthly]);
  });

  it('expires noncurrent versions after 1 day and aborts multipart uploads after 1 day', () => {
    const rules = vaultBucketProps(t).LifecycleConfiguration.Rules as Record<string, any>[];
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 1 }, Status: 'Enabled' }),
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
      ]),
    );
  });

  it('grantBackupWrite allows put, tag, read and list on backups/ and the key, never delete', () => {
    const { vault, role, template } = vaultStack();
    vault.grantBackupWrite(role);
    const policy = template().findResources('AWS::IAM::Policy');
    const statements = Object.values(policy).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const actions = statements.flatMap((s: any) => [s.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining([
        's3:PutObject',
        's3:PutObjectTagging',
        's3:GetObject',
        's3:ListBucket',
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:GenerateDataKey',
      ]),
    );
    expect(actions.filter((a: string) => /^s3:(Delete|\*)|^s3:.*\*$/.test(a))).toEqual([]);
    const objects = statements.find((s: any) => [s.Action].flat().includes('s3:PutObject'));
    expect(objects.Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/Bucket/), 'Arn'] }, '/backups/*']],
    });
    const list = statements.find((s: any) => s.Action === 's3:ListBucket');
    expect(list.Condition).toEqual({ StringLikeIfExists: { 's3:prefix': ['backups/', 'backups/*'] } });
  });

  it('grantRead allows only get and list on backups/ and decrypt', () => {
    const { vault, role, template } = vaultStack();
    vault.grantRead(role);
    const statements = Object.values(template().findResources('AWS::IAM::Policy')).flatMap(
      (p: any) => p.Properties.PolicyDocument.Statement,
    );
    expect(statements.flatMap((s: any) => [s.Action].flat()).sort()).toEqual([
      'kms:Decrypt',
      's3:GetObject',
      's3:GetObjectTagging',
      's3:ListBucket',
    ]);
  });

  it('rejects a noncurrent version expiry under one day, saying what to pass', () => {
    const stack = new Stack(newApp(), 'Bad');
    expect(() => new BackupVault(stack, 'Vault', { noncurrentVersionExpiration: Duration.hours(12) })).toThrow(
      'BackupVault Bad/Vault: noncurrentVersionExpiration is 12 hours; S3 counts whole days, so pass Duration.days(n) with n >= 1',
    );
  });
});
