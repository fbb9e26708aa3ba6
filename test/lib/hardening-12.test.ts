/**
 * The rest of issue 12 as template assertions: the newest verified backup's Legal Hold (grants and
 * its age alarm), the PITR repository's offsite replica, egress only to the endpoints, the S3
 * prefix list and the database security group, the S3 gateway endpoint's policy, and the job
 * image's RDS CA bundle pinned by SHA-256.
 */
import { readFileSync } from 'node:fs';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import { DrJob } from '../../lib/constructs/job.ts';
import { BackupVault } from '../../lib/constructs/vault.ts';
import { DrStack } from '../../lib/dr-stack.ts';
import { addOffsiteStack } from '../../lib/offsite-stack.ts';
import { newApp, onlyResource, shippedRaw, testConfig } from './helpers.ts';

/** Logical id of the one security group whose description matches. */
function groupId(template: Template, description: RegExp): string {
  const ids = Object.entries(template.findResources('AWS::EC2::SecurityGroup'))
    .filter(([, r]: [string, any]) => description.test(r.Properties.GroupDescription))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one security group matching ${description}, found ${ids.length}`);
  return ids[0]!;
}

/** Every egress rule of a security group: inline ones and AWS::EC2::SecurityGroupEgress resources, without descriptions. */
function egressOf(template: Template, logicalId: string): Record<string, unknown>[] {
  const json = template.toJSON().Resources as Record<string, any>;
  const inline = (json[logicalId].Properties.SecurityGroupEgress ?? []) as Record<string, unknown>[];
  const separate = Object.values(json)
    .filter(
      (r) =>
        r.Type === 'AWS::EC2::SecurityGroupEgress' &&
        JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [logicalId, 'GroupId'] }),
    )
    .map((r) => {
      const { GroupId: _, ...rest } = r.Properties;
      return rest;
    });
  return [...inline, ...separate].map(({ Description: _, ...rule }) => rule);
}

const https = (to: Record<string, unknown>) => ({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, ...to });

const SHA = 'a'.repeat(64);

describe('issue 12 §6: the RDS CA bundle is verified by SHA-256', () => {
  /** The job image's docker build arguments and the stack's warnings. */
  function synth(raw: Record<string, unknown>) {
    const app = newApp();
    const stack = new DrStack(app, 'Image', {
      config: testConfig({ ...shippedRaw(), offsite: { enabled: false }, ...raw }),
    });
    const assembly = app.synth();
    const manifests = assembly.artifacts.filter(
      (a): a is cxapi.AssetManifestArtifact => a instanceof cxapi.AssetManifestArtifact,
    );
    const images = manifests.flatMap((m) =>
      Object.values(JSON.parse(readFileSync(m.file, 'utf8')).dockerImages ?? {}),
    ) as any[];
    const warnings = assembly
      .getStackArtifact(stack.artifactId)
      .messages.filter((m) => m.level === 'warning')
      .map((m) => String(m.entry.data));
    return { buildArgs: images.map((image) => image.source.dockerBuildArgs), warnings };
  }

  it('passes config rdsCaBundleSha256 to the image build as RDS_CA_BUNDLE_SHA256', () => {
    expect(synth({ rdsCaBundleSha256: SHA }).buildArgs).toEqual([
      { PG_MAJOR: '15', TIMESCALEDB_VERSION: '2.28.3', RDS_CA_BUNDLE_SHA256: SHA },
    ]);
    expect(synth({ rdsCaBundleSha256: SHA }).warnings.filter((w) => w.includes('rdsCaBundleSha256'))).toEqual([]);
  });

  it('without it, synth warns that the image will not build (the Dockerfile refuses a missing hash)', () => {
    const { buildArgs, warnings } = synth({});
    expect(buildArgs).toEqual([{ PG_MAJOR: '15', TIMESCALEDB_VERSION: '2.28.3' }]);
    expect(warnings).toContainEqual(
      expect.stringContaining('config rdsCaBundleSha256 is not set: the job image refuses to build'),
    );
  });

  it('refuses a malformed hash in config, saying how to compute it', () => {
    expect(() => testConfig({ rdsCaBundleSha256: 'ABC' })).toThrow(
      /rdsCaBundleSha256: the SHA-256 of global-bundle.pem in 64 lowercase hex digits \(curl -fsSL https:\/\/truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem \| sha256sum\)/,
    );
  });
});

describe('issue 12 §5: egress only to the endpoints, the S3 prefix list and the database security group', () => {
  const app = newApp();
  const stack = new DrStack(app, 'Egress', {
    config: testConfig({
      ...shippedRaw(),
      drill: {
        scratchServer: { host: 'staging.internal', port: 6432, secret: 'staging/db' },
        healthUrls: ['https://app.internal/health', 'http://app.internal:8080/ready'],
      },
    }),
  });
  const template = Template.fromStack(stack);
  const endpoints = groupId(template, /VPC endpoints/);
  const toEndpoints = https({ DestinationSecurityGroupId: { 'Fn::GetAtt': [endpoints, 'GroupId'] } });
  const toS3 = https({
    DestinationPrefixListId: { 'Fn::GetAtt': [expect.stringMatching(/S3PrefixList/), 'PrefixLists.0.PrefixListId'] },
  });

  it("looks up the region's S3 prefix list (com.amazonaws.<region>.s3) at deploy time", () => {
    const lookup = onlyResource(template, 'Custom::AWS').Properties;
    const create = JSON.stringify(lookup.Create);
    expect(create).toContain('describeManagedPrefixLists');
    expect(create).toContain('com.amazonaws.');
    expect(create).toContain('.s3');
  });

  it('backups and restores: HTTPS to the endpoints and S3 only, the database port (no database security group configured: anywhere)', () => {
    expect(egressOf(template, groupId(template, /backup job/))).toEqual(expect.arrayContaining([toEndpoints, toS3]));
    expect(egressOf(template, groupId(template, /backup job/))).toHaveLength(3);
    expect(egressOf(template, groupId(template, /backup job/))).toContainEqual({
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      CidrIp: '0.0.0.0/0',
    });
  });

  it('the drill task runs in a security group of its own: HTTPS to the endpoints and S3, and the staging server port', () => {
    const drill = groupId(template, /drill task/);
    expect(egressOf(template, drill)).toEqual(
      expect.arrayContaining([
        toEndpoints,
        toS3,
        { IpProtocol: 'tcp', FromPort: 6432, ToPort: 6432, CidrIp: '0.0.0.0/0' },
      ]),
    );
    expect(egressOf(template, drill)).toHaveLength(3);
    const runTask = JSON.stringify(
      template.toJSON().Resources[stack.resolve(stack.drillWorkflow.stateMachine.stateMachineArn).Ref].Properties
        .DefinitionString,
    );
    expect(runTask).toContain(drill);
    expect(runTask).not.toContain(groupId(template, /backup job/));
  });

  it("the drill Lambdas: HTTPS to the endpoints and S3, the staging server, and the health URLs' ports (their hosts are not known here)", () => {
    const rules = egressOf(template, groupId(template, /drill Lambdas/));
    expect(rules).toEqual(
      expect.arrayContaining([
        toEndpoints,
        toS3,
        { IpProtocol: 'tcp', FromPort: 6432, ToPort: 6432, CidrIp: '0.0.0.0/0' },
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' },
        { IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, CidrIp: '0.0.0.0/0' },
      ]),
    );
    expect(rules).toHaveLength(5);
  });

  it('without health URLs no security group of the stack sends HTTPS to 0.0.0.0/0', () => {
    const plain = Template.fromStack(new DrStack(newApp(), 'NoHealth', { config: testConfig({ ...shippedRaw() }) }));
    const groups = Object.keys(plain.findResources('AWS::EC2::SecurityGroup')).filter((id) => !/Rotation/.test(id));
    for (const id of groups) expect(egressOf(plain, id)).not.toContainEqual(https({ CidrIp: '0.0.0.0/0' }));
  });

  it('the S3 gateway endpoint admits only the vault, the PITR repository and the ECR layer bucket', () => {
    const policy = onlyResource(template, 'AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' }).Properties
      .PolicyDocument;
    const vault = stack.resolve(stack.vault.bucket.bucketArn);
    const pitr = stack.resolve(stack.pitrRepository!.bucket.bucketArn);
    expect(policy.Statement).toEqual([
      {
        Sid: 'OnlyThisStacksBuckets',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 's3:*',
        Resource: expect.toSatisfy(
          (r: unknown[]) =>
            r.length === 4 &&
            [vault, { 'Fn::Join': ['', [vault, '/*']] }, pitr, { 'Fn::Join': ['', [pitr, '/*']] }].every((arn) =>
              r.some((x) => JSON.stringify(x) === JSON.stringify(arn)),
            ),
        ),
      },
      {
        Sid: 'EcrImageLayers',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 's3:GetObject',
        Resource: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':s3:::prod-', { Ref: 'AWS::Region' }, '-starport-layer-bucket/*'],
          ],
        },
      },
    ]);
  });

  it('with a database security group, database egress goes only to it; the drill task never reaches it', () => {
    const s = new Stack(newApp(), 'WithDbSg');
    const databaseSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(s, 'DbSg', 'sg-0123abcd', { mutable: true });
    new DrJob(s, 'Job', {
      vault: new BackupVault(s, 'Vault'),
      image: ecs.ContainerImage.fromRegistry('example/dr'),
      databases: [
        { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(s, 'Secret', 'db') },
      ],
      databaseSecurityGroup,
      scratchServer: { secret: secretsmanager.Secret.fromSecretNameV2(s, 'Scratch', 'scratch'), port: 6432 },
    });
    const t = Template.fromStack(s);
    const job = egressOf(t, groupId(t, /backup job/));
    expect(job.filter((r) => r.FromPort === 5432)).toEqual([
      { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: 'sg-0123abcd' },
    ]);
    expect(job.filter((r) => r.CidrIp !== undefined)).toEqual([]);
    const drill = egressOf(t, groupId(t, /drill task/));
    expect(drill.filter((r) => r.DestinationSecurityGroupId === 'sg-0123abcd' || r.FromPort === 5432)).toEqual([]);
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123abcd',
      FromPort: 5432,
      SourceSecurityGroupId: Match.anyValue(),
    });
  });

  it("the secret rotation functions share a security group with the job's egress: HTTPS to the endpoints and S3, the database group", () => {
    const s = new Stack(newApp(), 'Rotation');
    new DrJob(s, 'Job', {
      vault: new BackupVault(s, 'Vault'),
      image: ecs.ContainerImage.fromRegistry('example/dr'),
      databases: [
        { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(s, 'Secret', 'db') },
      ],
      databaseSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(s, 'DbSg', 'sg-0123abcd', { mutable: true }),
      rotateSecretsAfter: Duration.days(30),
    });
    const t = Template.fromStack(s);
    const rotation = groupId(t, /secret rotation/);
    const rules = egressOf(t, rotation);
    expect(rules).toHaveLength(3);
    expect(rules).toContainEqual({
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      DestinationSecurityGroupId: 'sg-0123abcd',
    });
    expect(rules.filter((r) => r.CidrIp !== undefined)).toEqual([]);
    // Every security group of the stack: no allow-all egress.
    for (const id of Object.keys(t.findResources('AWS::EC2::SecurityGroup')))
      expect(egressOf(t, id)).not.toContainEqual(expect.objectContaining({ IpProtocol: '-1' }));
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123abcd',
      SourceSecurityGroupId: { 'Fn::GetAtt': [rotation, 'GroupId'] },
    });
  });
});

describe('issue 12 §1: the PITR repository is replicated offsite, re-encrypted under a key of its own', () => {
  function build(raw: Record<string, unknown> = {}, env: { account?: string; region?: string } = {}) {
    const app = newApp();
    const config = testConfig({ ...shippedRaw(), ...raw });
    const primary = new DrStack(app, 'CryptoStockDr', { config, env });
    const offsite = addOffsiteStack(app, primary, config.offsite, env.account);
    return {
      primary,
      offsite,
      primaryTemplate: Template.fromStack(primary),
      offsiteTemplate: Template.fromStack(offsite),
    };
  }
  const { primary, offsite, primaryTemplate, offsiteTemplate } = build();

  it('the PITR bucket replicates pitr/ (never deletions, only SSE-KMS objects) to the offsite PITR bucket under the offsite PITR key alias', () => {
    const bucket = primaryTemplate.toJSON().Resources[primary.resolve(primary.pitrRepository!.bucket.bucketName).Ref];
    const rules = (bucket as any).Properties.ReplicationConfiguration.Rules;
    expect(rules).toEqual([
      expect.objectContaining({
        Id: 'pitr-to-offsite',
        Status: 'Enabled',
        Filter: { Prefix: 'pitr/' },
        DeleteMarkerReplication: { Status: 'Disabled' },
        SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
        Destination: expect.objectContaining({
          Bucket: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':s3:::crypto-stock-dr-offsite-pitr-',
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
                  ':alias/cryptostockdr/offsite-pitr',
                ],
              ],
            },
          },
        }),
      }),
    ]);
    // The vault keeps its own rule.
    primaryTemplate.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ReplicationConfiguration: {
        Rules: [Match.objectLike({ Id: 'backups-to-offsite', Filter: { Prefix: 'backups/' } })],
      },
    });
  });

  it('its replication role reads only pitr/ of the PITR bucket with the PITR key, writes only pitr/ replicas, and may delete nothing', () => {
    const roleRef = primary.resolve(primary.pitrReplication!.role.roleName);
    const statements = Object.values(
      primaryTemplate.findResources('AWS::IAM::Policy', { Properties: { Roles: [roleRef] } }),
    ).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const text = JSON.stringify(statements);
    expect(text).not.toMatch(/ReplicateDelete|s3:Delete|BypassGovernance/);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['s3:ReplicateObject', 's3:ReplicateTags'],
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':s3:::crypto-stock-dr-offsite-pitr-',
              { Ref: 'AWS::AccountId' },
              '-us-west-2/pitr/*',
            ],
          ],
        },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'kms:Decrypt', Resource: primary.resolve(primary.pitrRepository!.key.keyArn) }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
        Condition: expect.objectContaining({
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/cryptostockdr/offsite-pitr' },
        }),
      }),
    );
    expect(statements.filter((s: any) => JSON.stringify(s.Resource).includes('/backups/'))).toEqual([]);
  });

  it('alarms on failed and late PITR replication', () => {
    for (const metric of ['OperationsFailedReplication', 'ReplicationLatency']) {
      primaryTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Dimensions: Match.arrayWith([{ Name: 'RuleId', Value: 'pitr-to-offsite' }]),
        AlarmActions: [{ Ref: Match.stringLikeRegexp('MonitoringTopic') }],
      });
    }
  });

  it("the offsite stack has the PITR replica bucket: versioned, its own rotated key (not the vault's), no deletes from the source account, break-glass protections", () => {
    const bucket = onlyResource(offsiteTemplate, 'AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['crypto-stock-dr-offsite-pitr-', { Ref: 'AWS::AccountId' }, '-us-west-2']] },
    }).Properties;
    expect(bucket.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    const keyId =
      bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID[
        'Fn::GetAtt'
      ][0];
    expect(keyId).toBe(offsite.resolve(offsite.pitrKey!.keyArn)['Fn::GetAtt'][0]);
    expect(keyId).not.toBe(offsite.resolve(offsite.vault.key.keyArn)['Fn::GetAtt'][0]);
    offsiteTemplate.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      Description: Match.stringLikeRegexp('offsite replica of the PITR repository'),
    });
    offsiteTemplate.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/cryptostockdr/offsite-pitr' });
    const bucketRef = offsite.resolve(offsite.pitrBucket!.bucketName);
    const statements = Object.values(
      offsiteTemplate.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: bucketRef } }),
    ).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Sid: 'PitrDenyDeletesFromSourceAccount',
        Effect: 'Deny',
        Action: expect.arrayContaining([
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          's3:BypassGovernanceRetention',
          's3:DeleteBucket',
        ]),
      }),
    );
    // The same break-glass protections as the vault (protectBucket / protectKey).
    expect(
      statements.filter((s: any) => s.Effect === 'Deny' && JSON.stringify(s.Action).includes('s3:PutBucketPolicy')),
    ).toHaveLength(1);
    const keyPolicy = onlyResource(offsiteTemplate, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('PITR') })
      .Properties.KeyPolicy.Statement;
    expect(keyPolicy).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: expect.arrayContaining(['kms:ScheduleKeyDeletion', 'kms:DisableKey']),
      }),
    );
    // Deletions are never replicated, so replicas expire here (after twice the default PITR window).
    expect(bucket.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Id: 'expire-pitr-replicas', ExpirationInDays: 28, Status: 'Enabled' }),
    );
  });

  it('in a second account the PITR replication role may write pitr/ replicas and use the PITR key, by its ARN', () => {
    const { offsiteTemplate: cross } = build(
      { offsite: { account: '222222222222', region: 'eu-central-1' } },
      { account: '111111111111', region: 'us-east-1' },
    );
    const statements = Object.values(cross.findResources('AWS::S3::BucketPolicy')).flatMap(
      (p: any) => p.Properties.PolicyDocument.Statement,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Sid: 'PitrAllowReplicationFromSourceAccount',
        Action: ['s3:ReplicateObject', 's3:ReplicateTags'],
        Condition: {
          ArnEquals: {
            'aws:PrincipalArn': {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':iam::111111111111:role/CryptoStockDr-offsite-pitr-replication'],
              ],
            },
          },
        },
      }),
    );
    const pitrKey = onlyResource(cross, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('PITR') }).Properties
      .KeyPolicy.Statement;
    expect(pitrKey).toContainEqual(
      expect.objectContaining({ Sid: 'AllowReplicaEncryption', Action: ['kms:Encrypt', 'kms:GenerateDataKey'] }),
    );
  });

  it('without PITR (pitr.enabled false) neither the replication nor the offsite PITR bucket exists', () => {
    const { primary: p, offsiteTemplate: o } = build({ pitr: { enabled: false } });
    expect(p.pitrReplication).toBeUndefined();
    expect(
      Object.keys(
        o.findResources('AWS::S3::Bucket', {
          Properties: {
            BucketName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['crypto-stock-dr-offsite-pitr-'])] }),
          },
        }),
      ),
    ).toEqual([]);
  });
});

describe('issue 12 §1: the newest verified backup never expires (S3 Legal Hold) and alarms when older than 8 days', () => {
  const app = newApp();
  const stack = new DrStack(app, 'Hold', {
    config: testConfig({
      ...shippedRaw(),
      offsite: { enabled: false },
      databases: [
        { name: 'crypto_stock', host: 'db.internal' },
        { name: 'ticks', host: 'db.internal' },
      ],
    }),
  });
  const template = Template.fromStack(stack);
  const backups = { 'Fn::Join': ['', [stack.resolve(stack.vault.bucket.bucketArn), '/backups/*']] };
  /** Every Allow statement of the stack's identity policies that grants a Legal Hold action, with its role. */
  const holdStatements = () =>
    Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p: any) =>
      [p.Properties.PolicyDocument.Statement]
        .flat()
        .filter((s: any) => s.Effect === 'Allow' && /LegalHold/.test(JSON.stringify(s.Action)))
        .map((s: any) => ({ roles: p.Properties.Roles, statement: s })),
    );

  it('only the drill report may place and release holds, only on backups/*; the daily drill-age Lambda may only read them', () => {
    const report = stack.resolve(stack.drillFunctions.report.role!.roleName);
    const age = stack.resolve(stack.drillFunctions.drillAge.role!.roleName);
    // CDK merges statements on the same resource, so each role's hold actions share one with its reads of backups/*.
    const actions = (s: any) => [s.Action].flat() as string[];
    expect(holdStatements()).toEqual([
      {
        roles: [report],
        statement: expect.objectContaining({
          Action: expect.arrayContaining(['s3:PutObjectLegalHold', 's3:GetObjectLegalHold']),
          Resource: backups,
        }),
      },
      { roles: [age], statement: expect.objectContaining({ Resource: backups }) },
    ]);
    expect(actions(holdStatements()[1]!.statement)).toEqual(['s3:GetObjectLegalHold']);
    // The report role gets nothing that could shorten or remove a backup along with it.
    expect(actions(holdStatements()[0]!.statement).filter((a) => !/^s3:Get/.test(a))).toEqual([
      's3:PutObjectLegalHold',
    ]);
    // Wildcards that could grant them elsewhere: none.
    const text = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(text).not.toMatch(/"s3:\*"|"s3:Put\*"|"s3:\*LegalHold"/);
  });

  it('one alarm per database on VerifiedBackupAgeHours above 8 days, missing data breaching, to the alarm topic', () => {
    for (const database of ['crypto_stock', 'ticks']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'CryptoStockDr',
        MetricName: 'VerifiedBackupAgeHours',
        Dimensions: [{ Name: 'Database', Value: database }],
        Period: 86_400,
        Threshold: 8 * 24,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('MonitoringTopic') }],
      });
    }
    expect(stack.drillMonitoring.verifiedBackupAgeAlarms.size).toBe(2);
  });

  it('a drill report written unsigned (KMS refused or failed) alarms per database (issue 15 §3)', () => {
    for (const database of stack.drillMonitoring.reportUnsignedAlarms.keys()) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ReportUnsigned',
        Dimensions: [{ Name: 'Database', Value: database }],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('MonitoringTopic') }],
      });
    }
    expect(stack.drillMonitoring.reportUnsignedAlarms.size).toBe(2);
  });
});
