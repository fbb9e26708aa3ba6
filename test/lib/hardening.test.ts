/**
 * Hardening of issue 6 as template assertions: nobody can delete backups or bypass their
 * retention, least-privilege grants, Object Lock on what the job writes, private networking with
 * VPC endpoints, database security group rules, secret rotation, TLS verification.
 */
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { JobEnv, RDS_CA_BUNDLE_PATH, VerifyEnv } from '../../core/contract.ts';
import { jobResultsPrefix } from '../../core/job-result.ts';
import { DrillFunctions, LAMBDA_RUNTIME_CA_BUNDLE } from '../../lib/constructs/drill-functions.ts';
import { DrJob } from '../../lib/constructs/job.ts';
import { BackupVault } from '../../lib/constructs/vault.ts';
import { DrStack } from '../../lib/dr-stack.ts';
import { addOffsiteStack } from '../../lib/offsite-stack.ts';
import { definitionOf } from './constructs/definition.ts';
import { newApp, onlyResource, shippedRaw, testConfig } from './helpers.ts';

/** What would erase a backup or shorten its lock. */
const FORBIDDEN = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:BypassGovernanceRetention',
  's3:PutLifecycleConfiguration',
  's3:DeleteBucket',
];

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM action pattern (with * and ?) matching, case-insensitive as IAM does. */
function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return regex.test(action);
}

function grants(statement: any, action: string): boolean {
  if (statement.Effect !== 'Allow') return false;
  if (statement.NotAction !== undefined)
    return !asList(statement.NotAction).some((p) => actionMatches(String(p), action));
  return asList(statement.Action).some((p) => actionMatches(String(p), action));
}

/** Every identity-based statement of a template: AWS::IAM::Policy, ManagedPolicy and Role inline policies. */
function identityStatements(template: Template): { where: string; statement: any }[] {
  const out: { where: string; statement: any }[] = [];
  for (const [id, resource] of Object.entries(template.toJSON().Resources ?? {}) as [string, any][]) {
    const docs =
      resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy'
        ? [resource.Properties.PolicyDocument]
        : resource.Type === 'AWS::IAM::Role'
          ? asList(resource.Properties.Policies).map((p: any) => p.PolicyDocument)
          : [];
    for (const doc of docs) for (const statement of asList(doc.Statement)) out.push({ where: id, statement });
  }
  return out;
}

/** Could this statement's resource address a vault object (primary or offsite)? */
function mayAddressVault(statement: any, vaultBucketIds: string[]): boolean {
  if (statement.NotResource !== undefined) return true;
  return asList(statement.Resource).some((r) => {
    const text = JSON.stringify(r);
    return (
      r === '*' ||
      /s3:::\*/.test(text) ||
      text.includes('crypto-stock-dr-offsite') ||
      vaultBucketIds.some((id) => text.includes(`"${id}"`))
    );
  });
}

function deleteCapable(template: Template): string[] {
  const vaultBucketIds = Object.keys(
    template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }),
  );
  return identityStatements(template).flatMap(({ where, statement }) =>
    FORBIDDEN.filter((action) => grants(statement, action) && mayAddressVault(statement, vaultBucketIds)).map(
      (action) => `${where} may ${action}`,
    ),
  );
}

/** A database security group needs its VPC (vpcId), whose lookup needs a concrete account and region. */
const LOOKUP_ENV = { account: '123456789012', region: 'us-east-1' };

/** What `cdk synth` would have cached for vpc-0123abcd (a VPC lookup), so no dummy VPC is synthesized. */
const LOOKED_UP_VPC = {
  'vpc-provider:account=123456789012:filter.vpc-id=vpc-0123abcd:region=us-east-1:returnAsymmetricSubnets=true': {
    vpcId: 'vpc-0123abcd',
    vpcCidrBlock: '10.0.0.0/16',
    ownerAccountId: '123456789012',
    availabilityZones: [],
    subnetGroups: [
      {
        name: 'private',
        type: 'Private',
        subnets: [
          {
            subnetId: 'subnet-0aaa1111',
            cidr: '10.0.0.0/22',
            availabilityZone: 'us-east-1a',
            routeTableId: 'rtb-0aaa1111',
          },
          {
            subnetId: 'subnet-0bbb2222',
            cidr: '10.0.4.0/22',
            availabilityZone: 'us-east-1b',
            routeTableId: 'rtb-0bbb2222',
          },
        ],
      },
    ],
  },
};

function buildAll(raw: Record<string, unknown> = {}) {
  const app = newApp();
  for (const [key, value] of Object.entries(LOOKED_UP_VPC)) app.node.setContext(key, value);
  const inVpc = raw.databaseSecurityGroupId !== undefined;
  const config = testConfig({ ...shippedRaw(), ...(inVpc ? { vpcId: 'vpc-0123abcd' } : {}), ...raw });
  const primary = new DrStack(app, 'CryptoStockDr', { config, env: inVpc ? LOOKUP_ENV : undefined });
  const offsite = addOffsiteStack(app, primary, config.offsite, undefined);
  return { app, primary, offsite, template: Template.fromStack(primary), offsiteTemplate: Template.fromStack(offsite) };
}

/** The container environment of one of the job's task definitions (by default the backup one). */
function jobEnvironment(
  stack: DrStack,
  taskDefinition: ecs.TaskDefinition = stack.job.backup.taskDefinition,
): Record<string, string> {
  const resource = Template.fromStack(stack).toJSON().Resources[stack.resolve(taskDefinition.taskDefinitionArn).Ref];
  const container = resource.Properties.ContainerDefinitions[0];
  return Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
}

/** The statements of a role's policies, by the role construct (never by a hashed logical id). */
function roleStatements(stack: Stack, template: Template, role: iam.IRole): any[] {
  const ref = stack.resolve((role as iam.Role).roleName);
  return Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [ref] } })).flatMap((p: any) =>
    asList(p.Properties.PolicyDocument.Statement),
  );
}

/** The RunTask states of a state machine, Map and Parallel branches included. */
function runTaskStates(states: Record<string, any>): any[] {
  return Object.values(states).flatMap((state: any) => [
    ...(String(state.Resource).startsWith('arn:aws:states:::ecs:runTask') ? [state] : []),
    ...(state.ItemProcessor ? runTaskStates(state.ItemProcessor.States) : []),
    ...(state.Iterator ? runTaskStates(state.Iterator.States) : []),
    ...asList(state.Branches).flatMap((b: any) => runTaskStates(b.States)),
  ]);
}

describe('no role can delete backups or bypass their retention', () => {
  const all = buildAll({ secretRotationDays: 30, databaseSecurityGroupId: 'sg-0123abcd' });

  it('holds for every IAM policy, managed policy and inline role policy of both stacks (wildcards expanded)', () => {
    expect(identityStatements(all.template).length).toBeGreaterThan(10);
    expect(deleteCapable(all.template)).toEqual([]);
    expect(deleteCapable(all.offsiteTemplate)).toEqual([]);
    // s3:BypassGovernanceRetention appears nowhere in an Allow, whatever the resource.
    for (const t of [all.template, all.offsiteTemplate]) {
      expect(
        identityStatements(t)
          .filter(({ statement }) => grants(statement, 's3:BypassGovernanceRetention'))
          .map((s) => s.where),
      ).toEqual([]);
    }
  });

  it('the check itself catches s3:*, s3:Delete* and NotAction grants on the vault', () => {
    const stack = new Stack(newApp(), 'Probe');
    const vault = new BackupVault(stack, 'Vault');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.AccountRootPrincipal() });
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:Delete*'], resources: [vault.bucket.arnForObjects('backups/*')] }),
    );
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    new iam.ManagedPolicy(stack, 'Managed', {
      statements: [new iam.PolicyStatement({ notActions: ['s3:GetObject'], resources: [vault.bucket.bucketArn] })],
    });
    const found = deleteCapable(Template.fromStack(stack));
    expect(found.filter((f) => f.startsWith('RoleDefaultPolicy'))).toEqual(
      expect.arrayContaining([
        expect.stringContaining('may s3:DeleteObject'),
        expect.stringContaining('may s3:DeleteObjectVersion'),
        expect.stringContaining('may s3:BypassGovernanceRetention'),
      ]),
    );
    expect(found.some((f) => f.startsWith('Managed') && f.endsWith('s3:PutLifecycleConfiguration'))).toBe(true);
  });
});

describe('backup task least privilege and Object Lock', () => {
  const { template, primary } = buildAll();

  it('writes with Object Lock tiered (DR_OBJECT_LOCK: GOVERNANCE daily, COMPLIANCE weekly and monthly) into the Object Lock vault; restores write no backups, so they have none', () => {
    expect(jobEnvironment(primary)[JobEnv.objectLock]).toBe('tiered');
    expect(jobEnvironment(primary, primary.job.restore.taskDefinition)[JobEnv.objectLock]).toBeUndefined();
  });

  it('may put, tag, lock and read objects under backups/ only, and list with a backups/ prefix condition', () => {
    const taskRolePolicy = identityStatements(template)
      .filter(({ where }) => /BackupJobTaskDefinitionTaskRoleDefaultPolicy/.test(where))
      .map((s) => s.statement);
    const s3Statements = taskRolePolicy.filter((s) => asList(s.Action).some((a) => String(a).startsWith('s3:')));
    const objects = s3Statements.find((s) => asList(s.Action).includes('s3:PutObject'));
    expect([...asList(objects.Action)].sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:GetObjectTagging',
      's3:ListMultipartUploadParts',
      's3:PutObject',
      's3:PutObjectRetention',
      's3:PutObjectTagging',
    ]);
    expect(JSON.stringify(objects.Resource)).toMatch(/\/backups\/\*"\]\]\}$/);
    const list = s3Statements.find((s) => asList(s.Action).includes('s3:ListBucket'));
    expect(list.Condition).toEqual({ StringLikeIfExists: { 's3:prefix': ['backups/', 'backups/*'] } });
    for (const s of s3Statements)
      expect(asList(s.Action).every((a) => /^s3:(Put|Get|List|Abort)/.test(String(a)))).toBe(true);
  });
});

describe('restore task least privilege', () => {
  const { template, primary } = buildAll();
  const vaultBucketIds = Object.keys(
    template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }),
  );
  const restoreRole = roleStatements(primary, template, primary.job.restore.taskDefinition.taskRole);
  const backupRole = roleStatements(primary, template, primary.job.backup.taskDefinition.taskRole);
  /** Actions (wildcards expanded) that change objects or their retention. */
  const WRITES = [
    's3:PutObject',
    's3:PutObjectTagging',
    's3:PutObjectRetention',
    's3:PutObjectLegalHold',
    's3:PutObjectAcl',
    's3:RestoreObject',
    's3:ReplicateObject',
  ];
  const resourcesOf = (statement: any) => asList(statement.Resource).map((r) => JSON.stringify(primary.resolve(r)));

  it('the restore role writes only results/restores/*, never backups/* or any other vault prefix', () => {
    expect(restoreRole.length).toBeGreaterThan(3);
    const writes = restoreRole.filter((st) => WRITES.some((a) => grants(st, a)) && mayAddressVault(st, vaultBucketIds));
    expect(writes.map((st) => [...asList(st.Action)].sort())).toEqual([
      ['s3:GetObject', 's3:PutObject', 's3:PutObjectTagging'],
    ]);
    expect(writes.flatMap(resourcesOf)).toEqual([
      expect.stringMatching(new RegExp(`/${jobResultsPrefix('restore')}\\*"\\]\\]\\}$`)),
    ]);
    for (const st of restoreRole) {
      if (WRITES.some((a) => grants(st, a))) for (const r of resourcesOf(st)) expect(r).not.toMatch(/backups/);
    }
  });

  it('the restore role reads backups/* (GetObject, tags, ListBucket with a backups/ prefix condition) and decrypts with the vault key', () => {
    const reads = restoreRole.filter(
      (st) => grants(st, 's3:GetObject') && resourcesOf(st).some((r) => /\/backups\/\*"\]\]\}$/.test(r)),
    );
    expect(reads.map((st) => [...asList(st.Action)].sort())).toEqual([['s3:GetObject', 's3:GetObjectTagging']]);
    const lists = restoreRole.filter(
      (st) => grants(st, 's3:ListBucket') && resourcesOf(st).some((r) => vaultBucketIds.some((id) => r.includes(id))),
    );
    expect(lists.map((st) => st.Condition)).toContainEqual({
      StringLikeIfExists: { 's3:prefix': ['backups/', 'backups/*'] },
    });
    const kms = restoreRole.filter((st) => asList(st.Action).some((a) => String(a).startsWith('kms:')));
    expect(kms.flatMap((st) => asList(st.Action))).toContain('kms:Decrypt');
  });

  it('only the restore role reads the PITR repository, and only the backup role writes backups/', () => {
    const onPitr = (statements: any[]) =>
      statements.filter((st) => JSON.stringify(st.Resource).includes('PitrRepository'));
    expect(onPitr(restoreRole).length).toBeGreaterThan(0);
    expect(onPitr(backupRole)).toEqual([]);
    const backupPuts = backupRole.filter((st) => grants(st, 's3:PutObject'));
    expect(backupPuts.flatMap(resourcesOf)).toEqual([expect.stringMatching(/\/backups\/\*"\]\]\}$/)]);
  });

  it('the restore state machine runs the restore task definition, the drill one the drill task definition, the backup one the backup task definition', () => {
    const family = (t: ecs.TaskDefinition) => primary.resolve(t.family);
    const taskDefinitionsOf = (construct: string) =>
      runTaskStates(definitionOf(template, construct).States).map((st) => st.Parameters.TaskDefinition);
    expect(taskDefinitionsOf('BackupWorkflow')).toEqual([family(primary.job.backup.taskDefinition)]);
    expect(taskDefinitionsOf('RestoreWorkflow')).toEqual([family(primary.job.restore.taskDefinition)]);
    expect(taskDefinitionsOf('DrillWorkflow')).toEqual([family(primary.job.drill.taskDefinition)]);
    expect(family(primary.job.backup.taskDefinition)).not.toEqual(family(primary.job.restore.taskDefinition));
  });

  it("each state machine may pass only its own task definition's roles", () => {
    const passed = (machine: { role: iam.IRole }) =>
      roleStatements(primary, template, machine.role)
        .filter((st) => grants(st, 'iam:PassRole'))
        .flatMap(resourcesOf)
        .sort();
    const rolesOf = (t: ecs.TaskDefinition) =>
      [t.taskRole, t.executionRole!].map((r) => JSON.stringify(primary.resolve(r.roleArn))).sort();
    expect(passed(primary.restoreWorkflow.stateMachine)).toEqual(rolesOf(primary.job.restore.taskDefinition));
    expect(passed(primary.drillWorkflow.stateMachine)).toEqual(rolesOf(primary.job.drill.taskDefinition));
    expect(passed(primary.backupWorkflow.stateMachine)).toEqual(rolesOf(primary.job.backup.taskDefinition));
  });
});

describe('network', () => {
  const { template } = buildAll();
  // A database security group lives in an existing VPC (vpcId), looked up.
  const inVpc = buildAll({ databaseSecurityGroupId: 'sg-0123abcd' }).template;

  it('runs tasks in private subnets without public IPs; flow logs on', () => {
    // RunTask leaves AssignPublicIp out, which is DISABLED for awsvpc tasks; the subnets are the private ones.
    const definition = JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(definition).not.toContain('AssignPublicIp');
    expect(definition).toMatch(/Subnets.*BackupJobVpcprivateSubnet1.*BackupJobVpcprivateSubnet2/);
    expect(definition).not.toMatch(/publicSubnet/i);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', ResourceType: 'VPC' });
  });

  it('has an S3 gateway endpoint and private-DNS interface endpoints for the AWS APIs the job and workflows call', () => {
    const gateway = Object.values(
      template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Gateway' } }),
    ) as any[];
    expect(gateway.map((g) => g.Properties.ServiceName['Fn::Join'][1].at(-1))).toEqual(['.s3']);
    const interfaces = Object.values(
      template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
    ) as any[];
    const services = interfaces.map((e) => String(e.Properties.ServiceName['Fn::Join'][1].at(-1)).slice(1)).sort();
    expect(services).toEqual([
      'ecr.api',
      'ecr.dkr',
      'kms',
      'logs',
      'monitoring',
      'secretsmanager',
      'sns',
      'states',
      'sts',
    ]);
    for (const e of interfaces) expect(e.Properties.PrivateDnsEnabled).toBe(true);
    // One endpoint security group: HTTPS from inside the VPC only.
    const groups = new Set(interfaces.map((e) => JSON.stringify(e.Properties.SecurityGroupIds)));
    expect(groups.size).toBe(1);
    const endpointGroup = onlyResource(template, 'AWS::EC2::SecurityGroup', {
      GroupDescription: 'crypto-stock-dr VPC endpoints: HTTPS from the VPC',
    }).Properties;
    expect(endpointGroup.SecurityGroupIngress).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        CidrIp: { 'Fn::GetAtt': [expect.stringMatching(/BackupJobVpc/), 'CidrBlock'] },
      }),
    ]);
  });

  it('creates no endpoints in an imported VPC (documented: add them there)', () => {
    const stack = new Stack(newApp(), 'Imported');
    const vpc = new ec2.Vpc(stack, 'ExistingVpc', {
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const job = new DrJob(stack, 'Job', {
      vault: new BackupVault(stack, 'Vault'),
      vpc,
      image: ecs.ContainerImage.fromRegistry('example/dr'),
      databases: [
        { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(stack, 'Secret', 'db') },
      ],
    });
    expect(job.endpoints).toEqual([]);
    Template.fromStack(stack).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  it('opens the database port on the database security group to the job and the drill Lambdas only', () => {
    const ingress = Object.values(inVpc.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r: any) => r.Properties)
      .filter((p) => p.GroupId === 'sg-0123abcd');
    expect(ingress).toEqual([
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/BackupJobSecurityGroup/), 'GroupId'] },
      }),
      // verify and drill-cleanup reach the staging server, by default the first database's server.
      expect.objectContaining({
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/DrillFunctionsSecurityGroup/), 'GroupId'] },
      }),
    ]);
  });

  it('adds no database rules without databaseSecurityGroupId', () => {
    const ingress = Object.values(buildAll().template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (r: any) => r.Properties,
    );
    expect(ingress.filter((p) => p.FromPort === 5432)).toEqual([]);
  });
});

describe('secrets and TLS', () => {
  it('attaches the hosted single-user PostgreSQL rotation to each distinct database secret, reachable from its security group', () => {
    const { template } = buildAll({
      secretRotationDays: 30,
      databaseSecurityGroupId: 'sg-0123abcd',
      databases: [
        { name: 'a', host: 'h' },
        { name: 'b', host: 'h' },
        { name: 'c', host: 'h', secret: 'other/db' },
      ],
    });
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule')).map(
      (r: any) => r.Properties,
    );
    expect(schedules).toHaveLength(2);
    for (const s of schedules) {
      expect(s.RotationRules).toEqual({ ScheduleExpression: 'rate(30 days)' });
      expect(s.HostedRotationLambda).toMatchObject({ RotationType: 'PostgreSQLSingleUser' });
    }
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r: any) => r.Properties)
      .filter((p) => p.GroupId === 'sg-0123abcd');
    expect(ingress).toHaveLength(3); // the job, the drill Lambdas, and the rotation functions' one security group
  });

  it('verifies the server certificate against the RDS bundle shipped in the image when sslRootCert is rds', () => {
    const app = newApp();
    const stack = new DrStack(app, 'Tls', { config: testConfig({ sslRootCert: 'rds', offsite: { enabled: false } }) });
    for (const taskDefinition of [stack.job.backup.taskDefinition, stack.job.restore.taskDefinition]) {
      const env = jobEnvironment(stack, taskDefinition);
      expect(env[JobEnv.sslRootCert]).toBe(RDS_CA_BUNDLE_PATH);
      expect(env[JobEnv.sslMode]).toBe('verify-full');
    }
    const insecure = new DrStack(newApp(), 'Insecure', {
      config: testConfig({ sslMode: 'require', insecureTls: true, offsite: { enabled: false } }),
    });
    expect(jobEnvironment(insecure)[JobEnv.sslRootCert]).toBeUndefined();
    expect(jobEnvironment(insecure)[JobEnv.sslMode]).toBe('require');
  });

  it('verifies by default: verify-full against the RDS bundle in the job, the runtime CA bundle in the Lambdas', () => {
    const { primary } = buildAll();
    expect(jobEnvironment(primary)).toMatchObject({
      [JobEnv.sslMode]: 'verify-full',
      [JobEnv.sslRootCert]: RDS_CA_BUNDLE_PATH,
    });
    const env =
      Template.fromStack(primary).toJSON().Resources[
        primary.getLogicalId(primary.drillFunctions.cleanup.node.defaultChild as CfnElement)
      ].Properties.Environment.Variables;
    expect(env).toMatchObject({ [VerifyEnv.sslMode]: 'verify-full', [VerifyEnv.caBundle]: LAMBDA_RUNTIME_CA_BUNDLE });
  });

  it("the drill verify and cleanup Lambdas verify the staging server against the runtime's Amazon CA bundle (RDS CAs) when sslRootCert is rds", () => {
    const app = newApp();
    const stack = new DrStack(app, 'LambdaTls', {
      config: testConfig({ sslRootCert: 'rds', offsite: { enabled: false } }),
    });
    for (const fn of [stack.drillFunctions.verify, stack.drillFunctions.cleanup]) {
      const env =
        Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as CfnElement)].Properties
          .Environment.Variables;
      expect(env).toMatchObject({ [VerifyEnv.sslMode]: 'verify-full', [VerifyEnv.caBundle]: LAMBDA_RUNTIME_CA_BUNDLE });
    }
    const plain = new DrStack(newApp(), 'Plain', {
      config: testConfig({ sslMode: 'require', insecureTls: true, offsite: { enabled: false } }),
    });
    const plainEnv =
      Template.fromStack(plain).toJSON().Resources[
        plain.getLogicalId(plain.drillFunctions.verify.node.defaultChild as CfnElement)
      ].Properties.Environment.Variables;
    expect(plainEnv[VerifyEnv.caBundle]).toBeUndefined();
    expect(
      () =>
        new DrillFunctions(stack, 'BadCa', {
          vault: stack.vault,
          vpc: stack.job.vpc,
          scratchServer: {
            host: 'h',
            port: 5432,
            secret: secretsmanager.Secret.fromSecretNameV2(stack, 'BadCaSecret', 'staging/db'),
          },
          databases: ['crypto_stock'],
          topic: stack.monitoring.topic,
          rtoSeconds: 3600,
          caBundle: 'rds-ca.pem',
        }),
    ).toThrow(
      /caBundle "rds-ca.pem" is not an absolute path; pass a PEM file inside the Lambda runtime, e\.g\. \/var\/runtime\/ca-cert\.pem/,
    );
  });
});

describe('cdk-nag with every hardening option on', () => {
  it('finds nothing unacknowledged in either stack', () => {
    const { app, primary, offsite } = buildAll({
      secretRotationDays: 30,
      databaseSecurityGroupId: 'sg-0123abcd',
      sslRootCert: 'rds',
      offsite: { replicationTimeControl: true },
    });
    for (const stack of [primary, offsite]) {
      const report = new AwsSolutionsChecks(app).validateScope(stack);
      expect(
        report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
      ).toEqual([]);
    }
  });
});
