import { Duration, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { MAX_DRILLED_NAME } from '../../../core/drill/scratch.ts';
import { DATABASE_NAME, isValidRtoSeconds, MIN_RTO_SECONDS } from '../../../core/names.ts';
import { nagResourceName } from '../../nag.ts';
import { DrJob } from '../job.ts';
import type { BackupVault } from '../vault.ts';
import { DatabaseDrill } from './database-drill.ts';
import { failWithCause, type JobTask, validateJobTask, workflowStateMachine } from './job-task.ts';

/** The staging server that receives the scratch databases. */
export interface ScratchServer {
  readonly host: string;
  readonly port: number;
  /** `{"username":…,"password":…}`; the role must be allowed to create and drop databases. */
  readonly secret: secretsmanager.ISecret;
}

export interface DrillWorkflowProps {
  /**
   * Where `dr restore` runs into the staging server: the job's drill part (`DrJob.drill`), whose
   * role reads backups and writes `results/restores/`, never backups. The scratch server's secret
   * is added to it as `DrillWorkflow.SCRATCH_SECRET_ENV`.
   */
  readonly task: JobTask;
  /** The vault the job records its restore results in (`results/restores/`). */
  readonly vault: BackupVault;
  /** Names of the databases drilled by every execution, in this order; baked into the definition. */
  readonly databases: readonly string[];
  readonly scratchServer: ScratchServer;
  /** lambdas/verify: `{database, backupId, targetDatabase, host, port, healthUrls}` -> VerifyResult. */
  readonly verifyFunction: lambda.IFunction;
  /** lambdas/drill-cleanup: `{database, host, port}` -> `{database, dropped}`; refuses names not drill_*. */
  readonly cleanupFunction: lambda.IFunction;
  /** lambdas/drill-report: writes the report, publishes the summary, emits the drill metrics. */
  readonly reportFunction: lambda.IFunction;
  /** The recovery time objective the report judges the restore time by. */
  readonly rtoSeconds: number;
  /**
   * Application health URLs the verification calls.
   * @default - none
   */
  readonly healthUrls?: readonly string[];
  /**
   * Databases drilled at the same time (they share the staging server, and each one's restore time is measured).
   * @default 1
   */
  readonly maxConcurrency?: number;
  /**
   * Longest one restore task may run.
   * @default Duration.hours(6)
   */
  readonly restoreTimeout?: Duration;
  /**
   * Longest a whole execution may run: at least one `restoreTimeout` plus the verify, cleanup and
   * report steps (DrillWorkflow.STEPS_MARGIN) for each round of `maxConcurrency` databases.
   * @default - exactly that, plus one STEPS_MARGIN for naming and summarizing
   */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.ONE_YEAR - drills are audit evidence */
  readonly logRetention?: logs.RetentionDays;
}

/** One configured database as the workflow's Map sees it. */
export interface DrillDatabaseItem {
  readonly name: string;
}

/**
 * The restore drill. For each configured database, one at a time by default:
 *
 *   name the scratch database drill_<db>_<yyyymmdd> (execution start, UTC)
 *   -> drop a same-named leftover (cleanup Lambda)
 *   -> restore the latest complete backup into it on the staging server (the job, RUN_JOB; it falls
 *      back to an older backup when the newest fails its checksums) and record `dr --json` in the vault
 *   -> read that record (S3 GetObject): the backup actually restored and the phase timings
 *   -> verify against that backup's manifest (verify Lambda)
 *   -> ALWAYS drop the scratch database (every failure above is caught and comes here)
 *   -> write the report (drill-report Lambda: files, SNS summary, metrics).
 *
 * The execution fails, naming the databases, when any drill did not pass or could not report.
 * Input: `{}` (scheduled or by hand).
 */
export class DrillWorkflow extends Construct {
  /** State names, e.g. for local test overrides. */
  public static readonly RESTORE_STATE = DatabaseDrill.RESTORE_STATE;
  public static readonly READ_RESULT_STATE = DatabaseDrill.READ_RESULT_STATE;
  public static readonly VERIFY_STATE = DatabaseDrill.VERIFY_STATE;
  public static readonly DROP_LEFTOVER_STATE = DatabaseDrill.DROP_LEFTOVER_STATE;
  public static readonly CLEANUP_STATE = DatabaseDrill.CLEANUP_STATE;
  public static readonly REPORT_STATE = DatabaseDrill.REPORT_STATE;
  /** Job env var holding the scratch server's secret (the job reads the variable DR_DB_SECRET_ENV names). */
  public static readonly SCRATCH_SECRET_ENV = DrJob.SCRATCH_SECRET_ENV;
  /** Time allowed per database beyond its restore: cleanup before and after (2 min each), verify (15 min), report (2 min), retries. */
  public static readonly STEPS_MARGIN = Duration.hours(1);
  /** Error of the execution when a drill failed or could not report. */
  public static readonly DRILLS_FAILED_ERROR = 'DR.DrillsFailed';

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  /** One database's drill, the Map's item processor. */
  public readonly databaseDrill: DatabaseDrill;

  constructor(scope: Construct, id: string, props: DrillWorkflowProps) {
    super(scope, id);
    const owner = `DrillWorkflow ${this.node.path}`;
    if (props.databases.length === 0)
      throw new Error(`${owner}: databases is empty; pass at least one database to drill`);
    for (const name of props.databases) {
      if (!DATABASE_NAME.test(name) || name.length > MAX_DRILLED_NAME) {
        throw new Error(
          `${owner}: database "${name}" cannot be drilled: drill_<name>_<yyyymmdd> must be a valid name of at most 63 bytes; use names of at most ${MAX_DRILLED_NAME} letters, digits, _ and -`,
        );
      }
    }
    if (new Set(props.databases).size !== props.databases.length)
      throw new Error(`${owner}: a database is listed twice; list each database once`);
    const maxConcurrency = props.maxConcurrency ?? 1;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new Error(`${owner}: maxConcurrency is ${maxConcurrency}; use an integer >= 1 (databases drilled at once)`);
    }
    if (!isValidRtoSeconds(props.rtoSeconds)) {
      throw new Error(
        `${owner}: rtoSeconds is ${props.rtoSeconds}; use whole seconds >= ${MIN_RTO_SECONDS} (config "rtoSeconds", e.g. 3600 for critical)`,
      );
    }
    const port = props.scratchServer.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`${owner}: scratchServer.port is ${port}; use an integer from 1 to 65535`);
    validateJobTask(owner, props.task);
    const restoreTimeout = props.restoreTimeout ?? Duration.hours(6);
    const rounds = Math.ceil(props.databases.length / maxConcurrency);
    const needed = Duration.seconds(rounds * (restoreTimeout.toSeconds() + DrillWorkflow.STEPS_MARGIN.toSeconds()));
    const timeout = props.timeout ?? needed.plus(DrillWorkflow.STEPS_MARGIN);
    if (timeout.toSeconds() < needed.toSeconds()) {
      throw new Error(
        `${owner}: timeout ${timeout.toHumanString()} is shorter than ${rounds} round(s) of restoreTimeout ${restoreTimeout.toHumanString()} plus ${DrillWorkflow.STEPS_MARGIN.toHumanString()} of steps (${needed.toHumanString()}); raise it or leave it out`,
      );
    }

    // The job restores with the staging server's credentials, whichever server the backups came from.
    props.task.addSecret(DrillWorkflow.SCRATCH_SECRET_ENV, props.scratchServer.secret);

    // --- once: the day (names the scratch databases) and the settings every drill needs ---
    const startTime = sfn.JsonPath.stringAt('$$.Execution.StartTime');
    const nameDay = sfn.Pass.jsonPath(this, 'Name the day', {
      parameters: {
        startedAt: startTime,
        day: sfn.JsonPath.arrayGetItem(sfn.JsonPath.stringSplit(startTime, 'T'), 0),
      },
    });
    const compactDay = sfn.Pass.jsonPath(this, 'Compact the day', {
      parameters: {
        startedAt: sfn.JsonPath.stringAt('$.startedAt'),
        day: sfn.JsonPath.stringAt('$.day'),
        yyyymmdd: sfn.JsonPath.format(
          '{}{}{}',
          sfn.JsonPath.arrayGetItem(sfn.JsonPath.stringSplit(sfn.JsonPath.stringAt('$.day'), '-'), 0),
          sfn.JsonPath.arrayGetItem(sfn.JsonPath.stringSplit(sfn.JsonPath.stringAt('$.day'), '-'), 1),
          sfn.JsonPath.arrayGetItem(sfn.JsonPath.stringSplit(sfn.JsonPath.stringAt('$.day'), '-'), 2),
        ),
      },
    });
    const items: DrillDatabaseItem[] = props.databases.map((name) => ({ name }));
    const listDatabases = sfn.Pass.jsonPath(this, 'List databases', {
      result: sfn.Result.fromArray(items),
      resultPath: '$.databases',
    });
    const settings = sfn.Pass.jsonPath(this, 'Drill settings', {
      result: sfn.Result.fromObject({
        scratchHost: props.scratchServer.host,
        scratchPort: String(port),
        rtoSeconds: props.rtoSeconds,
        healthUrls: [...(props.healthUrls ?? [])],
      }),
      resultPath: '$.settings',
    });

    // --- one database each: its drill, a fragment (database-drill.ts) ---
    this.databaseDrill = new DatabaseDrill(this, 'Database drill', {
      task: props.task,
      vault: props.vault,
      verifyFunction: props.verifyFunction,
      cleanupFunction: props.cleanupFunction,
      reportFunction: props.reportFunction,
      restoreTimeout,
    });

    const forEach = sfn.Map.jsonPath(this, 'Drill each database', {
      itemsPath: '$.databases',
      itemSelector: {
        database: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        startedAt: sfn.JsonPath.stringAt('$.startedAt'),
        yyyymmdd: sfn.JsonPath.stringAt('$.yyyymmdd'),
        settings: sfn.JsonPath.objectAt('$.settings'),
      },
      maxConcurrency,
      resultPath: '$.results',
    }).itemProcessor(this.databaseDrill);

    // --- all databases: fail naming those that did not pass, or succeed with the summary ---
    const summarize = sfn.Pass.jsonPath(this, 'Summarize', {
      parameters: {
        day: sfn.JsonPath.stringAt('$.day'),
        databases: sfn.JsonPath.listAt('$.results[*].name'),
        // ok is 'no' for FAILED and UNREPORTED alike: one flag, and a filter that never selects nothing.
        anyFailed: sfn.JsonPath.arrayContains(sfn.JsonPath.listAt('$.results[*].ok'), 'no'),
        results: sfn.JsonPath.listAt('$.results'),
      },
    });
    const listFailures = sfn.Pass.jsonPath(this, 'List failures', {
      parameters: { failed: sfn.JsonPath.listAt("$.results[?(@.ok == 'no')].name") },
    });
    const anyFailed = sfn.Choice.jsonPath(this, 'Any drill failed?')
      .when(
        sfn.Condition.booleanEquals('$.anyFailed', true),
        listFailures.next(
          failWithCause(
            this,
            'Drills failed',
            DrillWorkflow.DRILLS_FAILED_ERROR,
            sfn.JsonPath.format(
              'the drill of {} did not pass or could not report; see reports/drills/ in the vault and the execution history',
              sfn.JsonPath.jsonToString(sfn.JsonPath.listAt('$.failed')),
            ),
          ),
        ),
      )
      .otherwise(sfn.Succeed.jsonPath(this, 'All drills passed'));

    const definition = nameDay
      .next(compactDay)
      .next(listDatabases)
      .next(settings)
      .next(forEach)
      .next(summarize)
      .next(anyFailed);

    const { stateMachine, logGroup } = workflowStateMachine(this, {
      comment:
        'crypto-stock-dr: monthly restore drill of every configured database into scratch databases on the staging server',
      definition,
      timeout,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      taskDefinitionName: 'drill task definition',
    });
    this.stateMachine = stateMachine;
    this.logGroup = logGroup;
    // The result records are encrypted with the vault key.
    props.vault.key.grantDecrypt(this.stateMachine);

    // s3:GetObject on results/restores/* only (the Read restore result state's own statement): read-only, never backups.
    props.vault.acknowledgeRestoreResultsWildcard(this.stateMachine);
    for (const fn of [props.verifyFunction, props.cleanupFunction, props.reportFunction]) {
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, fn.functionArn)}:*]`,
        reason:
          "lambda:InvokeFunction on the function's versions and aliases (ARN:*), added by CDK so a qualified ARN can be invoked; it is this one function.",
      });
    }
  }
}
