import { fileURLToPath } from 'node:url';
import { Annotations, Aws, type Duration, IgnoreMode, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { JOB_CONTAINER_NAME, JobEnv, RDS_CA_BUNDLE_PATH, secretEnvVarFor } from '../../core/contract.ts';
import type { SslMode } from '../../core/pg/tls.ts';
import { type DatabaseTarget, validateDatabaseTargets } from './database-target.ts';
import type { PitrRepository } from './pitr-repository.ts';
import type { BackupVault } from './vault.ts';
import type { JobTask } from './workflows/job-task.ts';

/** Repository root: the Docker build context of the job image. */
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The Docker build context, as an allow-list: only what job/Dockerfile copies. Keeps local state
 * (node_modules, cdk.out, .git, backups, bench/.data) out, and the image hash independent of lib/ and tests.
 */
export const JOB_IMAGE_EXCLUDES: readonly string[] = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!bin',
  '!bin/**',
  '!core',
  '!core/**',
  '!job',
  '!job/**',
  'node_modules',
  '**/node_modules',
  'cdk.out',
  '.git',
  'backups',
  'bench/.data',
  '**/*.log',
];

export interface DrJobProps {
  /**
   * Where backups are written. The backup task role may write and read `backups/`; the restore
   * task role may read `backups/` and write only its result records under `results/restores/`.
   * Neither may delete.
   */
  readonly vault: BackupVault;
  /** Databases the job may back up and restore into; each one's secret is injected as `secretEnvVarFor(name)`. */
  readonly databases: readonly DatabaseTarget[];
  /**
   * VPC whose private subnets (with egress) run the task.
   * @default - a new VPC over 2 AZs with public and private-with-egress subnets, one NAT gateway and flow logs
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Fargate cpu units.
   * @default 1024
   */
  readonly cpu?: number;
  /**
   * Fargate memory in MiB.
   * @default 2048
   */
  readonly memoryLimitMiB?: number;
  /**
   * Fargate ephemeral storage in GiB, 21..200, of both task definitions: a backup keeps its whole
   * compressed pg_dump directory on local disk until the manifest is written, a restore downloads
   * the dump it restores, and a PITR restore unpacks the cluster and its WAL here.
   * @default - Fargate's 20 GiB
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * The pgBackRest repository PITR restores read (`--pitr`/`--stanza` come from the restore task
   * definition, never from a state machine input); the restore task role may read it, not write it.
   * Backups never touch it.
   * @default - no PITR restores
   */
  readonly pitr?: { readonly repository: PitrRepository; readonly stanza: string };
  /**
   * Parallel pg_dump jobs inside one task (`DR_JOBS`).
   * @default 1
   */
  readonly dumpJobs?: number;
  /**
   * libpq sslmode for the database connections.
   * @default 'require'
   */
  readonly sslMode?: SslMode;
  /**
   * CA bundle to verify database certificates with: 'rds' (the RDS global bundle the job image
   * ships at RDS_CA_BUNDLE_PATH) or an absolute path inside the image. Use with sslMode 'verify-full'.
   * @default - none
   */
  readonly sslRootCert?: string;
  /**
   * The databases' security group: it gets ingress on each database port from the job's security
   * group (and from allowDatabaseAccess callers, e.g. the verify Lambda).
   * @default - none: allow the job's security group on the database yourself
   */
  readonly databaseSecurityGroup?: ec2.ISecurityGroup;
  /**
   * Rotate each distinct database secret this often with the hosted single-user PostgreSQL
   * rotation Lambda (in the job's subnets). Tasks read the secret when they start, so a rotation
   * never breaks a running backup.
   * @default - no rotation schedule (rotate the secret where it is managed)
   */
  readonly rotateSecretsAfter?: Duration;
  /**
   * Interface VPC endpoints (KMS, Secrets Manager, ECR, CloudWatch Logs and metrics, STS, SNS, Step
   * Functions) in the VPC this construct creates, so AWS API traffic stays off the NAT gateway.
   * Ignored for an imported `vpc`: add endpoints there yourself. The S3 gateway endpoint is always added
   * to a created VPC (it is free).
   * @default true
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * Major version of the PostgreSQL client built into the default image (build arg PG_MAJOR).
   * Ignored when `image` is given.
   * @default 15
   */
  readonly postgresMajorVersion?: number;
  /**
   * TimescaleDB version the default image installs (build arg TIMESCALEDB_VERSION): the one
   * production runs (config timescaleVersion). Ignored when `image` is given.
   * @default '2.28.3'
   */
  readonly timescaleVersion?: string;
  /**
   * SHA-256 of the RDS global CA bundle (build arg RDS_CA_BUNDLE_SHA256): the default image's build
   * checks the downloaded bundle against it and fails without it. Ignored when `image` is given.
   * @default - none: a synth warning, and the default image refuses to build
   */
  readonly rdsCaBundleSha256?: string;
  /**
   * The drill's staging server: with it, a third task part (`drill`) runs
   * drills, and its roles can read only this server's secret, never a production one.
   * @default - no drill task definition
   */
  readonly scratchServer?: ScratchServerAccess;
  /**
   * Customer-managed key the database secrets are encrypted with: the execution roles that inject
   * them get kms:Decrypt on it, through Secrets Manager only.
   * @default - none (secrets under the AWS-managed key need no grant)
   */
  readonly secretKey?: kms.IKey;
  /**
   * The job's image.
   * @default - built from job/Dockerfile with the repository root as context
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Retention of the job's container logs.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** The staging server the drill task reaches: its secret and port. */
export interface ScratchServerAccess {
  readonly secret: secretsmanager.ISecret;
  /**
   * PostgreSQL port of the staging server: the drill security group's only egress beside HTTPS to AWS APIs.
   * @default 5432
   */
  readonly port?: number;
}

/** The ECR layer bucket Fargate pulls image layers from through the S3 gateway endpoint. */
export function ecrLayerBucketArn(): string {
  return `arn:${Aws.PARTITION}:s3:::prod-${Aws.REGION}-starport-layer-bucket`;
}

/** What one of the job's two task definitions sets beyond the settings they share. */
interface JobTaskOptions {
  /** Log stream prefix, e.g. 'backup'. */
  readonly streamPrefix: string;
  /** Environment added to the shared one (repository, key, sslmode, jobs, CA bundle). */
  readonly environment: Record<string, string>;
  /** What the plain environment holds, for the ECS2 acknowledgement. */
  readonly settings: string;
  /** @default - every database's secret, as secretEnvVarFor(name) */
  readonly secrets?: Record<string, secretsmanager.ISecret>;
}

/** What one of the job's task definitions is made of, as DrJob builds it. */
interface DrJobTaskParts {
  readonly cluster: ecs.ICluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly subnets: ec2.SubnetSelection;
}

/**
 * One task part of the job (`DrJob.backup`, `.restore`, `.drill`): a task definition of the job
 * image, its container (JOB_CONTAINER_NAME), its least-privilege task role and its security group.
 * Workflows run it (JobTask); secrets and egress are added through it, never by reaching into the
 * container or the security group.
 */
export class DrJobTask implements JobTask {
  public readonly cluster: ecs.ICluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly container: ecs.ContainerDefinition;
  /** The task's security group (backup and restore share one: the same egress). */
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly securityGroups: readonly ec2.ISecurityGroup[];
  public readonly subnets: ec2.SubnetSelection;

  constructor(parts: DrJobTaskParts) {
    this.cluster = parts.cluster;
    this.taskDefinition = parts.taskDefinition;
    this.container = parts.container;
    this.securityGroup = parts.securityGroup;
    this.securityGroups = [parts.securityGroup];
    this.subnets = parts.subnets;
  }

  /** The task role: what the running task may do in AWS. */
  public get role(): iam.IRole {
    return this.taskDefinition.taskRole;
  }

  public addSecret(name: string, secret: secretsmanager.ISecret): void {
    this.container.addSecret(name, ecs.Secret.fromSecretsManager(secret));
  }

  /** TCP egress of the task's security group to `peer` on `port`. */
  public allowEgressTo(peer: ec2.IPeer, port: number, description: string): void {
    this.securityGroup.addEgressRule(peer, ec2.Port.tcp(port), description);
  }
}

/**
 * The `dr` job: Fargate tasks running the CLI (job/entry.ts) in private subnets, one Secrets
 * Manager secret per database. Task parts of the same image and container (JOB_CONTAINER_NAME),
 * each with its own least-privilege task role:
 *
 * - `backup` (`dr backup`): put and read `backups/`, Object Lock GOVERNANCE on what it writes;
 * - `restore` (`dr restore`): read `backups/` and the PITR repository, write only its result
 *   records under `results/restores/`. A restore cannot alter a backup;
 * - `drill` (with props.scratchServer): the restore role's rights, only the staging server's
 *   secret and egress, never a production one.
 */
export class DrJob extends Construct {
  /** Job env var holding the staging server's secret in drills (the job reads the variable DR_DB_SECRET_ENV names). */
  public static readonly SCRATCH_SECRET_ENV = 'DR_SCRATCH_SECRET';

  public readonly vpc: ec2.IVpc;
  public readonly cluster: ecs.Cluster;
  /** Backups (`dr backup`): its role may write backups. HTTPS to AWS APIs and the database ports. */
  public readonly backup: DrJobTask;
  /** Restores (`dr restore`): its role may only read backups. The backup part's security group. */
  public readonly restore: DrJobTask;
  private readonly drillPart?: DrJobTask;
  /** The interface endpoints' security group (created VPC with interface endpoints only). */
  public endpointSecurityGroup?: ec2.SecurityGroup;
  /** The S3 gateway endpoint of a created VPC; its policy admits only the buckets the job uses and the ECR layer bucket. */
  public s3Endpoint?: ec2.GatewayVpcEndpoint;
  /**
   * Where HTTPS egress may go: in a created VPC with interface endpoints, the endpoints' security
   * group and the region's S3 prefix list (gateway endpoint); in an imported VPC, or without
   * interface endpoints, anywhere (the VPC's own endpoints or NAT are not known here).
   */
  public readonly awsApiPeers: readonly ec2.IPeer[];
  public readonly logGroup: logs.LogGroup;
  /** The subnets tasks must be started in. */
  public readonly subnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  /** The interface endpoints created with the VPC (empty for an imported VPC). */
  public readonly endpoints: ec2.InterfaceVpcEndpoint[] = [];
  private readonly databaseSecurityGroup?: ec2.ISecurityGroup;
  private readonly awsApiRules: readonly (readonly [ec2.IPeer, string])[];
  private readonly databasePorts: readonly number[];

  constructor(scope: Construct, id: string, props: DrJobProps) {
    super(scope, id);
    validateDatabaseTargets(`DrJob ${this.node.path}`, props.databases);
    const dumpJobs = props.dumpJobs ?? 1;
    if (!Number.isInteger(dumpJobs) || dumpJobs < 1) {
      throw new Error(`DrJob ${this.node.path}: dumpJobs is ${dumpJobs}; use an integer >= 1 (parallel pg_dump jobs)`);
    }
    const postgresMajorVersion = props.postgresMajorVersion ?? 15;
    const timescaleVersion = props.timescaleVersion ?? '2.28.3';
    if (!/^\d+\.\d+\.\d+$/.test(timescaleVersion)) {
      throw new Error(
        `DrJob ${this.node.path}: timescaleVersion is "${timescaleVersion}"; use a TimescaleDB release such as 2.28.3 (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb' on production)`,
      );
    }
    if (!Number.isInteger(postgresMajorVersion) || postgresMajorVersion < 12) {
      throw new Error(
        `DrJob ${this.node.path}: postgresMajorVersion is ${postgresMajorVersion}; use a supported major version such as 15 (>= the server's)`,
      );
    }

    const storage = props.ephemeralStorageGiB;
    if (storage !== undefined && (!Number.isInteger(storage) || storage < 21 || storage > 200)) {
      throw new Error(
        `DrJob ${this.node.path}: ephemeralStorageGiB is ${storage}; use a whole number from 21 to 200 (Fargate's range), or leave it out for the default 20 GiB`,
      );
    }

    this.vpc = props.vpc ?? this.createVpc(props.interfaceEndpoints ?? true);
    this.awsApiRules =
      this.endpointSecurityGroup && this.s3Endpoint
        ? [
            [
              this.endpointSecurityGroup,
              'AWS APIs through the interface endpoints (KMS, Secrets Manager, ECR, Logs, STS, SNS, Step Functions)',
            ],
            [
              ec2.Peer.prefixList(this.s3PrefixListId()),
              "S3 through the gateway endpoint (the region's S3 prefix list)",
            ],
          ]
        : [[ec2.Peer.anyIpv4(), "AWS APIs (S3, Secrets Manager, ECR, CloudWatch Logs): the VPC's endpoints or NAT"]];
    this.awsApiPeers = this.awsApiRules.map(([peer]) => peer);
    if (this.s3Endpoint) this.restrictS3Endpoint(this.s3Endpoint, props);
    this.databaseSecurityGroup = props.databaseSecurityGroup;
    this.databasePorts = [...new Set(props.databases.map((db) => db.port))];

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    // Egress only where the job talks: AWS APIs over HTTPS (S3, Secrets Manager, ECR, logs) and the databases.
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'crypto-stock-dr backup job: HTTPS to AWS APIs and the database ports',
      allowAllOutbound: false,
    });
    this.allowAwsApis(securityGroup);
    for (const port of this.databasePorts) {
      // To the databases' security group when there is one; without it the database addresses are not known here.
      securityGroup.addEgressRule(
        props.databaseSecurityGroup ?? ec2.Peer.anyIpv4(),
        ec2.Port.tcp(port),
        `PostgreSQL on ${port}`,
      );
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const image =
      props.image ??
      ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: 'job/Dockerfile',
        exclude: [...JOB_IMAGE_EXCLUDES],
        ignoreMode: IgnoreMode.DOCKER,
        buildArgs: {
          PG_MAJOR: String(postgresMajorVersion),
          TIMESCALEDB_VERSION: timescaleVersion,
          ...(props.rdsCaBundleSha256 ? { RDS_CA_BUNDLE_SHA256: props.rdsCaBundleSha256 } : {}),
        },
        // Matches the task's X86_64 runtime platform even when built on an arm64 laptop.
        platform: Platform.LINUX_AMD64,
      });
    if (!props.image && !props.rdsCaBundleSha256) {
      Annotations.of(this).addWarningV2(
        'crypto-stock-dr:rds-ca-bundle-sha256',
        'config rdsCaBundleSha256 is not set: the job image refuses to build (it verifies the downloaded RDS CA bundle by SHA-256); set it as README "RDS CA bundle" says before `cdk deploy`',
      );
    } else if (props.rdsCaBundleSha256 && !/^[0-9a-f]{64}$/.test(props.rdsCaBundleSha256)) {
      throw new Error(
        `DrJob ${this.node.path}: rdsCaBundleSha256 "${props.rdsCaBundleSha256}" is not a SHA-256 in 64 lowercase hex digits`,
      );
    }
    // Both task definitions share the image, size, disk, log group and database secrets.
    const backup = this.addJobTask('TaskDefinition', props, image, dumpJobs, {
      streamPrefix: 'backup',
      // The vault has Object Lock: every backup object is locked for its tier, weekly and monthly
      // ones in COMPLIANCE mode (nobody can shorten them), daily ones in GOVERNANCE (break-glass can).
      environment: { [JobEnv.objectLock]: 'tiered' },
      settings: 'repository URL, KMS key ARN, sslmode, pg_dump jobs, Object Lock mode',
    });
    this.backup = new DrJobTask({ cluster: this.cluster, securityGroup, subnets: this.subnets, ...backup });
    const restore = this.addJobTask('RestoreTaskDefinition', props, image, dumpJobs, {
      streamPrefix: 'restore',
      // PITR repository and stanza only here: from the task definition, never from a state machine input.
      environment: props.pitr
        ? { [JobEnv.pitrRepo]: props.pitr.repository.url, [JobEnv.pitrStanza]: props.pitr.stanza }
        : {},
      settings: 'repository URL, KMS key ARN, sslmode, pg_restore jobs, PITR repository URL and stanza',
    });
    this.restore = new DrJobTask({ cluster: this.cluster, securityGroup, subnets: this.subnets, ...restore });

    props.vault.grantBackupWrite(this.backup.role);
    props.vault.grantRead(this.restore.role);
    props.pitr?.repository.grantRead(this.restore.role);
    props.vault.grantWriteRestoreResults(this.restore.role);

    if (props.scratchServer) {
      // Drills restore only into the staging server: no production secret is injected, so neither
      // the task nor its execution role can read one.
      const drill = this.addJobTask('DrillTaskDefinition', props, image, dumpJobs, {
        streamPrefix: 'drill',
        environment: {},
        settings: 'repository URL, KMS key ARN, sslmode, pg_restore jobs',
        // Only the scratch secret, which the drill workflow adds (DrJob.SCRATCH_SECRET_ENV).
        secrets: {},
      });
      const scratchPort = props.scratchServer.port ?? 5432;
      const drillSecurityGroup = new ec2.SecurityGroup(this, 'DrillSecurityGroup', {
        vpc: this.vpc,
        description: 'crypto-stock-dr drill task: HTTPS to AWS APIs and the staging server only',
        allowAllOutbound: false,
      });
      this.allowAwsApis(drillSecurityGroup);
      this.drillPart = new DrJobTask({
        cluster: this.cluster,
        securityGroup: drillSecurityGroup,
        subnets: this.subnets,
        ...drill,
      });
      // The staging server's address is not known as a security group: its port, anywhere.
      this.drillPart.allowEgressTo(
        ec2.Peer.anyIpv4(),
        scratchPort,
        `PostgreSQL staging server (drills) on ${scratchPort}`,
      );
      props.vault.grantRead(this.drillPart.role);
      props.vault.grantWriteRestoreResults(this.drillPart.role);
    }

    this.allowDatabaseAccess(securityGroup, 'crypto-stock-dr backup job');
    if (props.rotateSecretsAfter) this.rotateSecrets(props.databases, props.rotateSecretsAfter);
  }

  /**
   * Drills (`dr restore` into the staging server): the restore role's rights, only the staging
   * server's secret, HTTPS to AWS APIs and the staging server's port, never the database security group.
   * Throws without props.scratchServer.
   */
  public get drill(): DrJobTask {
    if (!this.drillPart) {
      throw new Error(
        `DrJob ${this.node.path}: no drill task definition; pass scratchServer to DrJob so drills never run with production secrets`,
      );
    }
    return this.drillPart;
  }

  /** HTTPS egress of `securityGroup` to AWS APIs only: awsApiPeers (the endpoints and S3, in a created VPC). */
  public allowAwsApis(securityGroup: ec2.SecurityGroup): void {
    for (const [peer, description] of this.awsApiRules)
      securityGroup.addEgressRule(peer, ec2.Port.tcp(443), description);
  }

  /** The id of the region's AWS-managed S3 prefix list (com.amazonaws.<region>.s3), looked up at deploy time. */
  private s3PrefixListId(): string {
    const lookup = new cr.AwsCustomResource(this, 'S3PrefixList', {
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${Aws.REGION}.s3`] }] },
        physicalResourceId: cr.PhysicalResourceId.of(`s3-prefix-list-${Aws.REGION}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: cr.AwsCustomResourcePolicy.ANY_RESOURCE }),
      installLatestAwsSdk: false,
    });
    Validations.of(lookup).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeManagedPrefixLists, the only action of this lookup, supports only Resource "*"; it reads the id of the AWS-managed S3 prefix list and changes nothing.',
    });
    // The provider function AwsCustomResource adds once per stack (its id is fixed by aws-cdk-lib).
    const provider = Stack.of(this).node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (provider) {
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'The AwsCustomResource provider of aws-cdk-lib uses the AWS-managed basic execution policy only to write its own CloudWatch Logs; its one data permission is the prefix-list lookup.',
      });
    }
    return lookup.getResponseField('PrefixLists.0.PrefixListId');
  }

  /**
   * The S3 gateway endpoint admits only what the job and the Lambdas in the VPC read and write:
   * the vault, the PITR repository, and the ECR layer bucket Fargate pulls the image from.
   */
  private restrictS3Endpoint(endpoint: ec2.GatewayVpcEndpoint, props: DrJobProps): void {
    const buckets = [props.vault.bucket, ...(props.pitr ? [props.pitr.repository.bucket] : [])];
    endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OnlyThisStacksBuckets',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:*'],
        resources: buckets.flatMap((b) => [b.bucketArn, b.arnForObjects('*')]),
      }),
    );
    endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EcrImageLayers',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`${ecrLayerBucketArn()}/*`],
      }),
    );
  }

  /**
   * Lets `peer` (e.g. the verify Lambda's security group) reach every database port: an ingress
   * rule on the database security group. Without `databaseSecurityGroup` there is nothing to add.
   */
  public allowDatabaseAccess(peer: ec2.ISecurityGroup, description: string): void {
    if (!this.databaseSecurityGroup) return;
    for (const port of this.databasePorts) {
      this.databaseSecurityGroup.addIngressRule(peer, ec2.Port.tcp(port), `${description} to PostgreSQL on ${port}`);
    }
  }

  /** One Fargate task definition of the job image with its container, logs and database secrets. */
  private addJobTask(
    id: string,
    props: DrJobProps,
    image: ecs.ContainerImage,
    dumpJobs: number,
    options: JobTaskOptions,
  ): { taskDefinition: ecs.FargateTaskDefinition; container: ecs.ContainerDefinition } {
    const taskDefinition = new ecs.FargateTaskDefinition(this, id, {
      cpu: props.cpu ?? 1024,
      memoryLimitMiB: props.memoryLimitMiB ?? 2048,
      ephemeralStorageGiB: props.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const container = taskDefinition.addContainer('Container', {
      containerName: JOB_CONTAINER_NAME,
      image,
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: options.streamPrefix, logGroup: this.logGroup }),
      // Non-secret settings only; credentials arrive through `secrets` (ValueFrom).
      environment: {
        [JobEnv.repo]: `s3://${props.vault.bucket.bucketName}/`,
        [JobEnv.kmsKeyId]: props.vault.key.keyArn,
        [JobEnv.sslMode]: props.sslMode ?? 'require',
        [JobEnv.jobs]: String(dumpJobs),
        ...(props.sslRootCert
          ? { [JobEnv.sslRootCert]: props.sslRootCert === 'rds' ? RDS_CA_BUNDLE_PATH : props.sslRootCert }
          : {}),
        ...options.environment,
      },
      secrets: Object.fromEntries(
        Object.entries(
          options.secrets ?? Object.fromEntries(props.databases.map((db) => [secretEnvVarFor(db.name), db.secret])),
        ).map(([name, secret]) => [name, ecs.Secret.fromSecretsManager(secret)]),
      ),
    });
    if (props.secretKey && taskDefinition.executionRole) {
      // ECS injects the secrets with the execution role; under a customer-managed key it needs the key too.
      taskDefinition.executionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [props.secretKey.keyArn],
          conditions: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
        }),
      );
    }
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: `The plain environment holds only non-secret settings (${options.settings}); database credentials are injected from Secrets Manager as ValueFrom secrets.`,
    });
    if (taskDefinition.executionRole) {
      Validations.of(taskDefinition.executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, added by CDK to pull the image, supports only Resource "*"; the execution role\'s other statements are scoped to the image repository, the log group and the database secrets.',
      });
    }
    return { taskDefinition, container };
  }

  private rotateSecrets(databases: readonly DatabaseTarget[], after: Duration): void {
    const seen = new Set<string>();
    // One security group for the rotation functions, with the job's egress: HTTPS to AWS APIs, the database ports.
    const rotationSecurityGroup = new ec2.SecurityGroup(this, 'RotationSecurityGroup', {
      vpc: this.vpc,
      description: 'crypto-stock-dr secret rotation: HTTPS to AWS APIs and the database ports',
      allowAllOutbound: false,
    });
    this.allowAwsApis(rotationSecurityGroup);
    for (const port of this.databasePorts) {
      rotationSecurityGroup.addEgressRule(
        this.databaseSecurityGroup ?? ec2.Peer.anyIpv4(),
        ec2.Port.tcp(port),
        `PostgreSQL on ${port}`,
      );
    }
    databases.forEach((db, i) => {
      if (seen.has(db.secret.secretName)) return;
      seen.add(db.secret.secretName);
      const hostedRotation = secretsmanager.HostedRotation.postgreSqlSingleUser({
        vpc: this.vpc,
        vpcSubnets: this.subnets,
        securityGroups: [rotationSecurityGroup],
      });
      new secretsmanager.RotationSchedule(this, `SecretRotation${i}`, {
        secret: db.secret,
        hostedRotation,
        automaticallyAfter: after,
      });
      for (const sg of hostedRotation.connections.securityGroups) this.allowDatabaseAccess(sg, 'secret rotation');
    });
  }

  private createVpc(interfaceEndpoints: boolean): ec2.Vpc {
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [this.subnets] } },
    });
    this.s3Endpoint = vpc.node.findChild('S3') as ec2.GatewayVpcEndpoint;
    if (interfaceEndpoints) {
      const services: [string, ec2.InterfaceVpcEndpointAwsService][] = [
        ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
        ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
        ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
        ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
        ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
        ['Monitoring', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING],
        ['Sts', ec2.InterfaceVpcEndpointAwsService.STS],
        ['Sns', ec2.InterfaceVpcEndpointAwsService.SNS],
        ['StepFunctions', ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS],
      ];
      // One security group for all endpoints: HTTPS from inside the VPC (the job, the Lambdas, secret rotation).
      const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc,
        description: 'crypto-stock-dr VPC endpoints: HTTPS from the VPC',
        allowAllOutbound: false,
      });
      this.endpointSecurityGroup = endpointSecurityGroup;
      endpointSecurityGroup.addIngressRule(
        ec2.Peer.ipv4(vpc.vpcCidrBlock),
        ec2.Port.tcp(443),
        'HTTPS to AWS APIs from inside the VPC',
      );
      Validations.of(endpointSecurityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          "The only ingress is HTTPS from this VPC's own CIDR block (a CloudFormation reference cdk-nag cannot resolve), never 0.0.0.0/0.",
      });
      for (const [id, service] of services) {
        this.endpoints.push(
          vpc.addInterfaceEndpoint(id, {
            service,
            subnets: this.subnets,
            privateDnsEnabled: true,
            securityGroups: [endpointSecurityGroup],
            open: false,
          }),
        );
      }
    }
    return vpc;
  }
}
