import { Annotations, CfnOutput, CfnRule, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { DrConfig } from './config.ts';
import type { AlarmTopic } from './constructs/alarm-topic.ts';
import type { DatabaseTarget } from './constructs/database-target.ts';
import { DrillFunctions, LAMBDA_RUNTIME_CA_BUNDLE } from './constructs/drill-functions.ts';
import { DrJob } from './constructs/job.ts';
import { BackupMonitoring, DrDashboard, DrillMonitoring, executionStoppedAlarms } from './constructs/monitoring.ts';
import { PitrRepository } from './constructs/pitr-repository.ts';
import { defaultBreakGlassRoleArn, TamperAlarm } from './constructs/protection.ts';
import { VaultReplication } from './constructs/replication.ts';
import { RpoWatch } from './constructs/rpo-watch.ts';
import { BackupSchedule, DrillSchedule } from './constructs/schedules.ts';
import { BackupVault } from './constructs/vault.ts';
import { BackupWorkflow } from './constructs/workflows/backup-workflow.ts';
import { DrillWorkflow } from './constructs/workflows/drill-workflow.ts';
import { RestoreWorkflow } from './constructs/workflows/restore-workflow.ts';
import { offsiteNames } from './offsite-stack.ts';

export interface DrStackProps extends StackProps {
  /** Validated configuration (lib/config.ts parseConfig). */
  readonly config: DrConfig;
  /**
   * The job image.
   * @default - built from job/Dockerfile
   */
  readonly jobImage?: ecs.ContainerImage;
}

/** The DR system: vault, backup job, nightly workflow, schedule and alarms. */
export class DrStack extends Stack {
  public readonly vault: BackupVault;
  public readonly job: DrJob;
  public readonly backupWorkflow: BackupWorkflow;
  public readonly schedule: BackupSchedule;
  public readonly monitoring: BackupMonitoring;
  /** The topic every alarm, tamper rule, failed restore and drill summary notifies, and its key. */
  public readonly alarmTopic: AlarmTopic;
  /** Restores started by hand (console, `dr remote restore`); input in the README. */
  public readonly restoreWorkflow: RestoreWorkflow;
  /** The pgBackRest repository and the RPO watch (config pitr.enabled). */
  public readonly pitrRepository?: PitrRepository;
  public readonly rpoWatch?: RpoWatch;
  /** Replication to the OffsiteVaultStack's bucket (config offsite.enabled). */
  public readonly replication?: VaultReplication;
  /** Replication of the PITR repository to the OffsiteVaultStack's PITR bucket (config offsite.enabled and pitr.enabled). */
  public readonly pitrReplication?: VaultReplication;
  /** Monthly restore drills: Lambdas, state machine, schedule, alarms, dashboard. */
  public readonly drillFunctions: DrillFunctions;
  public readonly drillWorkflow: DrillWorkflow;
  public readonly drillSchedule: DrillSchedule;
  public readonly drillMonitoring: DrillMonitoring;
  public readonly dashboard: DrDashboard;
  /** Notifies the alarm topic on attempts to weaken the vault's, the PITR repository's or their keys' protection. */
  public readonly tamperAlarm: TamperAlarm;
  /** ExecutionsTimedOut and ExecutionsAborted alarms of every state machine. */
  public readonly executionStoppedAlarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DrStackProps) {
    super(scope, id, props);
    const { config } = props;

    const databases: DatabaseTarget[] = config.databases.map((db, i) => ({
      name: db.name,
      host: db.host,
      port: db.port,
      secret: importSecret(this, `DatabaseSecret${i}`, db.secret),
    }));

    if (config.example) blockExampleDeploy(this, config.placeholders);
    const breakGlassRoleArn = config.breakGlassRoleArn ?? defaultBreakGlassRoleArn();
    const secretKey = config.secretKmsKeyArn
      ? kms.Key.fromKeyArn(this, 'SecretKey', config.secretKmsKeyArn)
      : undefined;

    this.vault = new BackupVault(this, 'Vault', { breakGlassRoleArn });
    if (config.pitr.enabled) {
      this.pitrRepository = new PitrRepository(this, 'PitrRepository', {
        accessLogsBucket: this.vault.accessLogsBucket,
        breakGlassRoleArn,
      });
    }
    const scratch = config.drill.scratchServer;
    const scratchServer = {
      host: scratch.host,
      port: scratch.port,
      secret: importSecret(this, 'DrillScratchSecret', scratch.secret),
    };
    // 'BackupJob': the id its resources' logical IDs were named by before it also ran restores.
    this.job = new DrJob(this, 'BackupJob', {
      vault: this.vault,
      databases,
      vpc: config.vpcId ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: config.vpcId }) : undefined,
      cpu: config.job.cpu,
      memoryLimitMiB: config.job.memoryMiB,
      dumpJobs: config.job.dumpJobs,
      sslMode: config.sslMode,
      sslRootCert: config.sslRootCert,
      databaseSecurityGroup: config.databaseSecurityGroupId
        ? ec2.SecurityGroup.fromSecurityGroupId(this, 'DatabaseSecurityGroup', config.databaseSecurityGroupId, {
            mutable: true,
          })
        : undefined,
      rotateSecretsAfter: config.secretRotationDays ? Duration.days(config.secretRotationDays) : undefined,
      postgresMajorVersion: config.postgresMajorVersion,
      timescaleVersion: config.timescaleVersion,
      rdsCaBundleSha256: config.rdsCaBundleSha256,
      scratchServer,
      secretKey,
      ephemeralStorageGiB: config.job.ephemeralStorageGiB,
      pitr: this.pitrRepository ? { repository: this.pitrRepository, stanza: config.pitr.stanza } : undefined,
      image: props.jobImage,
    });
    this.backupWorkflow = new BackupWorkflow(this, 'BackupWorkflow', {
      task: this.job.backup,
      databases,
      maxConcurrency: config.backupConcurrency,
    });
    this.schedule = new BackupSchedule(this, 'BackupSchedule', { stateMachine: this.backupWorkflow.stateMachine });
    this.monitoring = new BackupMonitoring(this, 'Monitoring', {
      backupStateMachine: this.backupWorkflow.stateMachine,
      databases: config.databases.map((db) => db.name),
      alertEmail: config.alertEmail,
    });
    this.alarmTopic = this.monitoring.alarmTopic;

    if (config.offsite.enabled) {
      const names = offsiteNames({ primaryStackName: this.stackName, ...config.offsite });
      this.replication = new VaultReplication(this, 'OffsiteReplication', {
        vault: this.vault,
        destination: {
          bucketName: names.bucketName,
          region: config.offsite.region,
          account: config.offsite.account,
          keyAlias: names.keyAlias,
        },
        roleName: names.replicationRoleName,
        replicationTimeControl: config.offsite.replicationTimeControl,
        alarmTopic: this.alarmTopic.topic,
      });
      if (this.pitrRepository) {
        // WAL and base backups too: a point in time is recoverable offsite, re-encrypted under the offsite PITR key.
        this.pitrReplication = new VaultReplication(this, 'OffsitePitrReplication', {
          vault: this.pitrRepository,
          prefix: `${PitrRepository.PREFIX}/`,
          ruleId: 'pitr-to-offsite',
          what: 'the PITR repository',
          destination: {
            bucketName: names.pitrBucketName,
            region: config.offsite.region,
            account: config.offsite.account,
            keyAlias: names.pitrKeyAlias,
          },
          roleName: names.pitrReplicationRoleName,
          replicationTimeControl: config.offsite.replicationTimeControl,
          alarmTopic: this.alarmTopic.topic,
        });
      }
    }

    if (this.pitrRepository) {
      this.rpoWatch = new RpoWatch(this, 'RpoWatch', {
        repository: this.pitrRepository,
        stanza: config.pitr.stanza,
        alarmTopic: this.alarmTopic.topic,
        rpo: Duration.seconds(config.pitr.rpoSeconds),
        baseBackupMaxAge: Duration.days(config.pitr.baseBackupMaxAgeDays),
      });
      new CfnOutput(this, 'PitrRepositoryUrl', {
        description:
          'pgBackRest repository: dr pitr config --repo <this> --stanza ' +
          config.pitr.stanza +
          ' --kms-key-id <PitrKeyArn> ...',
        value: this.pitrRepository.url,
      });
      new CfnOutput(this, 'PitrKeyArn', {
        description: 'SSE-KMS key of the pgBackRest repository (repo1-s3-kms-key-id)',
        value: this.pitrRepository.key.keyArn,
      });
      new CfnOutput(this, 'PitrHostPolicyArn', {
        description:
          'Attach to the database host role: aws iam attach-role-policy --role-name <host role> --policy-arn <this>',
        value: this.pitrRepository.hostPolicy.managedPolicyArn,
      });
    }

    // Restores and drills run the restore task definition: its role reads backups/ and writes only
    // results/restores/, so a restore can never alter a backup.
    // The restore's task may run twice the RTO before it is stopped and reported: long enough for
    // a slow restore to finish, short enough that a stuck one alarms while the RTO still matters.
    const restoreTaskTimeout = Duration.seconds(2 * config.rtoSeconds);
    this.restoreWorkflow = new RestoreWorkflow(this, 'RestoreWorkflow', {
      task: this.job.restore,
      databases,
      vault: this.vault,
      alarmTopic: this.alarmTopic.topic,
      pointInTimeRecovery: this.pitrRepository !== undefined,
      taskTimeout: restoreTaskTimeout,
      timeout: restoreTaskTimeout.plus(Duration.hours(1)),
    });

    // --- drills: restore into scratch databases on the staging server, verify, drop, report ---
    const drilled = config.databases.map((db) => db.name);
    this.drillFunctions = new DrillFunctions(this, 'DrillFunctions', {
      vault: this.vault,
      vpc: this.job.vpc,
      scratchServer,
      databases: drilled,
      topic: this.alarmTopic.topic,
      rtoSeconds: config.rtoSeconds,
      sslMode: config.sslMode,
      // The job's 'rds' bundle is in its image; the Lambdas have the RDS CAs in their runtime.
      caBundle: config.sslRootCert === 'rds' ? LAMBDA_RUNTIME_CA_BUNDLE : undefined,
      secretKey,
      awsApiPeers: this.job.awsApiPeers,
      healthUrls: config.drill.healthUrls,
    });
    // With databaseSecurityGroupId, the verify and cleanup Lambdas need ingress like the job (staging defaults to the database server).
    this.job.allowDatabaseAccess(this.drillFunctions.securityGroup, 'crypto-stock-dr drill Lambdas');
    this.drillWorkflow = new DrillWorkflow(this, 'DrillWorkflow', {
      task: this.job.drill,
      vault: this.vault,
      databases: drilled,
      scratchServer,
      verifyFunction: this.drillFunctions.verify,
      cleanupFunction: this.drillFunctions.cleanup,
      reportFunction: this.drillFunctions.report,
      rtoSeconds: config.rtoSeconds,
      healthUrls: config.drill.healthUrls,
      restoreTimeout: restoreTaskTimeout,
    });
    this.drillFunctions.sweepAfterStoppedDrills(this.drillWorkflow.stateMachine);
    this.drillSchedule = new DrillSchedule(this, 'DrillSchedule', {
      stateMachine: this.drillWorkflow.stateMachine,
      enabled: config.drill.scheduleEnabled,
    });
    this.drillMonitoring = new DrillMonitoring(this, 'DrillMonitoring', {
      topic: this.alarmTopic.topic,
      drillStateMachine: this.drillWorkflow.stateMachine,
      databases: drilled,
      rtoSeconds: config.rtoSeconds,
    });
    this.dashboard = new DrDashboard(this, 'Dashboard', {
      databases: drilled,
      rtoSeconds: config.rtoSeconds,
      backupStateMachine: this.backupWorkflow.stateMachine,
      drillStateMachine: this.drillWorkflow.stateMachine,
    });

    this.executionStoppedAlarms = [
      ...executionStoppedAlarms(
        this.monitoring,
        'BackupExecution',
        this.backupWorkflow.stateMachine,
        this.alarmTopic.topic,
      ),
      ...executionStoppedAlarms(
        this.monitoring,
        'RestoreExecution',
        this.restoreWorkflow.stateMachine,
        this.alarmTopic.topic,
      ),
      ...executionStoppedAlarms(
        this.drillMonitoring,
        'DrillExecution',
        this.drillWorkflow.stateMachine,
        this.alarmTopic.topic,
      ),
    ];
    this.tamperAlarm = new TamperAlarm(this, 'TamperAlarm', {
      buckets: [this.vault.bucket, ...(this.pitrRepository ? [this.pitrRepository.bucket] : [])],
      keys: [
        this.vault.key,
        this.drillFunctions.reportSigningKey,
        ...(this.pitrRepository ? [this.pitrRepository.key] : []),
      ],
      topic: this.alarmTopic.topic,
    });
    if (config.alertTopicArn)
      this.notifyExistingTopic(sns.Topic.fromTopicArn(this, 'AlertTopic', config.alertTopicArn));

    new CfnOutput(this, 'BackupStateMachineArn', {
      description:
        'Start a backup now: aws stepfunctions start-execution --state-machine-arn <this> --input \'{"tier":"daily"}\'',
      value: this.backupWorkflow.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'BackupBucketName', {
      description: 'The vault; the dr CLI reaches it as s3://<this>/',
      value: this.vault.bucket.bucketName,
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });
    new CfnOutput(this, 'RestoreStateMachineArn', {
      description:
        'Start a restore: dr remote restore ... (finds this output), or the Step Functions console with an input from the README',
      value: this.restoreWorkflow.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'DrillStateMachineArn', {
      description: "Start a drill now: aws stepfunctions start-execution --state-machine-arn <this> --input '{}'",
      value: this.drillWorkflow.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName });
    new CfnOutput(this, 'ReportSigningKeyArn', {
      description:
        'KMS key that signs drill reports: aws kms get-public-key --key-id <this>, then dr report verify <report>.json --public-key (README "Evidence an auditor accepts")',
      value: this.drillFunctions.reportSigningKey.keyArn,
    });
  }

  /** Every alarm and the tamper rules of this stack also notify `topic` (config alertTopicArn). */
  private notifyExistingTopic(topic: sns.ITopic): void {
    for (const construct of this.node.findAll()) {
      if (construct instanceof cloudwatch.Alarm) construct.addAlarmAction(new actions.SnsAction(topic));
    }
    for (const rule of [this.tamperAlarm.bucketRule, this.tamperAlarm.keyRule])
      rule.addTarget(new targets.SnsTopic(topic));
  }
}

/**
 * An example config synthesizes (for tests and a first `cdk synth`) but never deploys: a warning
 * lists its placeholders, and a rule whose assertion is always false fails the change set.
 */
export function blockExampleDeploy(stack: Stack, placeholders: readonly string[]): void {
  const message =
    'This stack was synthesized from the EXAMPLE config (cdk.json "dr", "example": true) and cannot be deployed. ' +
    'Write your own config file and deploy with `npx cdk deploy --all -c configFile=<your config>.json` (README "Deploying"). ' +
    `Placeholders: ${placeholders.join('; ') || 'none'}`;
  Annotations.of(stack).addWarningV2('crypto-stock-dr:example-config', message);
  new CfnRule(stack, 'ExampleConfigCannotDeploy', {
    assertions: [
      { assert: Fn.conditionEquals('example-config', 'deployable-config'), assertDescription: message.slice(0, 1024) },
    ],
  });
}

/** A secret given by name or ARN (complete ARNs end in the 6-character suffix Secrets Manager adds). */
function importSecret(scope: Construct, id: string, nameOrArn: string): secretsmanager.ISecret {
  if (!nameOrArn.startsWith('arn:')) return secretsmanager.Secret.fromSecretNameV2(scope, id, nameOrArn);
  return /-[A-Za-z0-9]{6}$/.test(nameOrArn)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, nameOrArn)
    : secretsmanager.Secret.fromSecretPartialArn(scope, id, nameOrArn);
}
