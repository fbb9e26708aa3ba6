import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DrillAgeEnv, DrillCleanupEnv, REPORT_LOCK_COMPLIANCE, ReportEnv, VerifyEnv } from '../../core/contract.ts';
import type { SslMode } from '../../core/pg/tls.ts';
import { DrFunction } from './function.ts';
import { protectKey } from './protection.ts';
import type { BackupVault } from './vault.ts';
import type { ScratchServer } from './workflows/drill-workflow.ts';

export interface DrillFunctionsProps {
  readonly vault: BackupVault;
  /** VPC whose private subnets reach the staging server. */
  readonly vpc: ec2.IVpc;
  readonly scratchServer: ScratchServer;
  /** Drilled databases (the drill-age Lambda reports each one's age). */
  readonly databases: readonly string[];
  /** Receives the drill summaries. */
  readonly topic: sns.ITopic;
  /** The recovery time objective the report judges restores by. */
  readonly rtoSeconds: number;
  /**
   * libpq sslmode of the job; the Lambdas use lambdaSslMode of it.
   * @default 'require'
   */
  readonly sslMode?: SslMode;
  /**
   * PEM CA bundle, as a path inside the Lambda runtime, that verify and cleanup check the staging
   * server's certificate against (`VerifyEnv.caBundle`), e.g. LAMBDA_RUNTIME_CA_BUNDLE for RDS.
   * @default - none: Node's default roots, which lack the RDS CAs
   */
  readonly caBundle?: string;
  /**
   * Customer-managed key of the scratch server's secret: verify and cleanup get kms:Decrypt on it
   * through Secrets Manager.
   * @default - none (a secret under the AWS-managed key needs no grant)
   */
  readonly secretKey?: kms.IKey;
  /**
   * Where the verify and cleanup Lambdas' HTTPS to AWS APIs may go (DrJob.awsApiPeers: the
   * interface endpoints' security group and the S3 prefix list in a created VPC).
   * @default - [ec2.Peer.anyIpv4()]
   */
  readonly awsApiPeers?: readonly ec2.IPeer[];
  /**
   * The application health URLs the verification calls (config drill.healthUrls): their ports get
   * egress to anywhere, since the applications' addresses are not known here.
   * @default - none
   */
  readonly healthUrls?: readonly string[];
}

/**
 * The Amazon CA certificates (the RDS CAs among them) the Lambda Node.js runtime ships; since
 * nodejs20.x it no longer loads them by default, so a verify-full connection to RDS must name them.
 */
export const LAMBDA_RUNTIME_CA_BUNDLE = '/var/runtime/ca-cert.pem';

/**
 * The Lambdas' sslmode for the job's. They take every libpq mode (core/pg/tls.ts) but are kept on
 * TLS first and a host name check, as they were when they knew only four modes: `allow` becomes
 * `prefer` and `verify-ca` becomes `verify-full`, never weaker than the job's.
 */
export function lambdaSslMode(mode: SslMode): SslMode {
  switch (mode) {
    case 'disable':
      return 'disable';
    case 'allow':
    case 'prefer':
      return 'prefer';
    case 'require':
      return 'require';
    case 'verify-ca':
    case 'verify-full':
      return 'verify-full';
  }
}

/**
 * The Lambdas of the drill: verify and cleanup (in the VPC, reaching the staging server), the
 * report (vault and SNS), and the daily drill-age watch (vault reports listing) with its schedule.
 */
export class DrillFunctions extends Construct {
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly verify: DrFunction;
  public readonly cleanup: DrFunction;
  public readonly report: DrFunction;
  /**
   * Signs each drill report's JSON (KMS Sign, ECDSA P-256 over its SHA-256), so that an edited
   * report fails `dr report verify`. Only the report Lambda may sign; nobody but the break-glass
   * role may delete, disable or re-policy it.
   */
  public readonly reportSigningKey: kms.Key;
  public readonly drillAge: DrFunction;
  public readonly drillAgeRule: events.Rule;
  /** With sweepAfterStoppedDrills: the rule that runs the cleanup when a drill times out or is aborted. */
  public stoppedDrillRule?: events.Rule;
  private readonly scratchServer: ScratchServer;

  constructor(scope: Construct, id: string, props: DrillFunctionsProps) {
    super(scope, id);
    const repo = `s3://${props.vault.bucket.bucketName}/`;
    const sslMode = lambdaSslMode(props.sslMode ?? 'require');
    if (props.caBundle !== undefined && !props.caBundle.startsWith('/')) {
      throw new Error(
        `DrillFunctions ${this.node.path}: caBundle "${props.caBundle}" is not an absolute path; pass a PEM file inside the Lambda runtime, e.g. ${LAMBDA_RUNTIME_CA_BUNDLE}`,
      );
    }
    const tls = { [VerifyEnv.sslMode]: sslMode, ...(props.caBundle ? { [VerifyEnv.caBundle]: props.caBundle } : {}) };

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'crypto-stock-dr drill Lambdas: HTTPS to AWS APIs and the staging server',
      allowAllOutbound: false,
    });
    for (const peer of props.awsApiPeers ?? [ec2.Peer.anyIpv4()]) {
      this.securityGroup.addEgressRule(peer, ec2.Port.tcp(443), 'AWS APIs (S3, Secrets Manager, CloudWatch Logs)');
    }
    const healthPorts = new Set(
      (props.healthUrls ?? [])
        .filter((u) => /^(https?|wss?):/i.test(u))
        .map((u) => {
          const url = new URL(u);
          return Number(url.port || (/^(https|wss):$/i.test(url.protocol) ? 443 : 80));
        }),
    );
    for (const port of healthPorts)
      this.securityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(port),
        `Application health URLs (drill.healthUrls) on ${port}`,
      );
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(props.scratchServer.port),
      `PostgreSQL staging server on ${props.scratchServer.port}`,
    );

    const inVpc = { vpc: props.vpc, securityGroups: [this.securityGroup] };
    this.verify = new DrFunction(this, 'Verify', {
      name: 'verify',
      description: 'crypto-stock-dr: verify a drill scratch database against its backup manifest',
      timeout: Duration.minutes(15),
      memorySize: 1024,
      environment: { [VerifyEnv.repo]: repo, [VerifyEnv.secretArn]: props.scratchServer.secret.secretArn, ...tls },
      ...inVpc,
    });
    props.vault.grantRead(this.verify);
    props.scratchServer.secret.grantRead(this.verify);

    this.cleanup = new DrFunction(this, 'Cleanup', {
      name: 'drill-cleanup',
      description: 'crypto-stock-dr: drop a drill scratch database (drill_* only)',
      timeout: Duration.minutes(2),
      // DrillCleanupEnv names the same TLS variables as VerifyEnv.
      environment: { [DrillCleanupEnv.secretArn]: props.scratchServer.secret.secretArn, ...tls },
      ...inVpc,
    });
    props.scratchServer.secret.grantRead(this.cleanup);
    this.scratchServer = props.scratchServer;
    if (props.secretKey) {
      for (const fn of [this.verify, this.cleanup]) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [props.secretKey.keyArn],
            conditions: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } },
          }),
        );
      }
    }

    this.report = new DrFunction(this, 'Report', {
      name: 'drill-report',
      description: 'crypto-stock-dr: write the drill report, publish its summary, emit the drill metrics',
      timeout: Duration.minutes(2),
      environment: { [ReportEnv.repo]: repo, [ReportEnv.topicArn]: props.topic.topicArn },
    });
    this.reportSigningKey = new kms.Key(this, 'ReportSigningKey', {
      description: 'crypto-stock-dr: signs drill reports (check one with dr report verify)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      // Reports signed with it stay verifiable for their 400 days whatever happens to the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    protectKey(this.reportSigningKey, props.vault.breakGlassRoleArn);
    // No rotation: KMS cannot rotate asymmetric keys, and one key keeps every report it signed verifiable.
    this.reportSigningKey.grant(this.report, 'kms:Sign', 'kms:GetPublicKey');
    this.report.addEnvironment(ReportEnv.signingKeyArn, this.reportSigningKey.keyArn);
    // The vault has Object Lock: reports are locked as evidence (COMPLIANCE, EVIDENCE_RETENTION_DAYS).
    this.report.addEnvironment(ReportEnv.reportLock, REPORT_LOCK_COMPLIANCE);
    props.vault.grantRead(this.report);
    props.vault.grantReportsWrite(this.report);
    // After a passed drill the report holds the newest verified backup and releases the one before.
    props.vault.grantLegalHold(this.report);
    props.vault.grantListDrillReports(this.report);
    // The report reads the restore job's result record itself (restoreResultName); grantRead gave the key.
    props.vault.grantReadRestoreResults(this.report, false);
    props.topic.grantPublish(this.report);
    Validations.of(this.report.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        "Added by CDK's grantPublish: publishing to the KMS-encrypted alarm topic needs kms:GenerateDataKey* (all its variants) on the topic key; the statement names only that key.",
    });

    this.drillAge = new DrFunction(this, 'DrillAge', {
      name: 'drill-age',
      description: 'crypto-stock-dr: daily DaysSinceLastDrill per database from the drill reports',
      environment: { [DrillAgeEnv.repo]: repo, [DrillAgeEnv.databases]: JSON.stringify(props.databases) },
    });
    props.vault.grantListDrillReports(this.drillAge);
    // Daily VerifiedBackupAgeHours: which backup holds the Legal Hold (read only).
    props.vault.grantLegalHoldRead(this.drillAge);
    this.drillAgeRule = new events.Rule(this, 'DrillAgeSchedule', {
      description: 'crypto-stock-dr: daily drill age (DaysSinceLastDrill) for the no-recent-drill alarm',
      schedule: events.Schedule.cron({ minute: '30', hour: '6' }),
    });
    this.drillAgeRule.addTarget(new targets.LambdaFunction(this.drillAge));

    for (const fn of [this.verify, this.cleanup]) {
      Validations.of(fn.role!).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'The AWS managed policy Lambda needs to create and delete its VPC network interfaces (ec2:*NetworkInterface*, Resource "*"); nothing else is in it.',
      });
    }
  }

  /**
   * A drill that times out or is aborted never reaches its cleanup step: on that status change the
   * cleanup Lambda drops every drill_* database of the execution's day or older on the staging server.
   */
  public sweepAfterStoppedDrills(drillStateMachine: sfn.IStateMachine): events.Rule {
    this.stoppedDrillRule = new events.Rule(this, 'StoppedDrillCleanup', {
      description: 'crypto-stock-dr: drop the scratch databases of a drill execution that timed out or was aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['TIMED_OUT', 'ABORTED'], stateMachineArn: [drillStateMachine.stateMachineArn] },
      },
    });
    this.stoppedDrillRule.addTarget(
      new targets.LambdaFunction(this.cleanup, {
        event: events.RuleTargetInput.fromObject({
          sweepBefore: events.EventField.fromPath('$.detail.startDate'),
          host: this.scratchServer.host,
          port: this.scratchServer.port,
        }),
        retryAttempts: 4,
      }),
    );
    return this.stoppedDrillRule;
  }
}
