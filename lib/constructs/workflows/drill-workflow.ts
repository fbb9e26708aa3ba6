import { Duration, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { JobEnv } from '../../../core/contract.ts';
import { MAX_DRILLED_NAME, SCRATCH_NAME_FORMAT } from '../../../core/drill/scratch.ts';
import { DATABASE_NAME, isValidRtoSeconds, MIN_RTO_SECONDS } from '../../../core/names.ts';
import { nagResourceName } from '../../nag.ts';
import { DrJob } from '../job.ts';
import { BackupVault } from '../vault.ts';
import {
  failWithCause,
  JOB_EXIT_CODE,
  type JobTask,
  jobRunTask,
  validateJobTask,
  workflowStateMachine,
} from './job-task.ts';

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
  public static readonly RESTORE_STATE = 'Restore into scratch database';
  public static readonly READ_RESULT_STATE = 'Read restore result';
  public static readonly VERIFY_STATE = 'Verify scratch database';
  public static readonly DROP_LEFTOVER_STATE = 'Drop leftover scratch database';
  public static readonly CLEANUP_STATE = 'Drop scratch database';
  public static readonly REPORT_STATE = 'Write drill report';
  /** Job env var holding the scratch server's secret (the job reads the variable DR_DB_SECRET_ENV names). */
  public static readonly SCRATCH_SECRET_ENV = DrJob.SCRATCH_SECRET_ENV;
  /** Time allowed per database beyond its restore: cleanup before and after (2 min each), verify (15 min), report (2 min), retries. */
  public static readonly STEPS_MARGIN = Duration.hours(1);
  /** Error of the execution when a drill failed or could not report. */
  public static readonly DRILLS_FAILED_ERROR = 'DR.DrillsFailed';

  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

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

    // --- one database ---
    // The drill's state is also the report's event (lambdas/drill-report DrillReportEventSchema):
    // database, startedAt, rtoSeconds, healthUrls, restoreResultName, then verify, scratch and
    // errors as far as the drill got. The report reads the restore's record itself.
    const nameScratch = sfn.Pass.jsonPath(this, 'Name scratch database', {
      parameters: {
        database: sfn.JsonPath.stringAt('$.database.name'),
        scratchDatabase: sfn.JsonPath.format(
          SCRATCH_NAME_FORMAT,
          sfn.JsonPath.stringAt('$.database.name'),
          sfn.JsonPath.stringAt('$.yyyymmdd'),
        ),
        // The job records its result under results/restores/<name>.json; a UUID is unique per
        // drill and fits the 80-character limit whatever the execution's name.
        restoreResultName: sfn.JsonPath.uuid(),
        // Every Lambda's log lines carry the execution's ARN as their correlation id (lambdas/shared/observability.ts).
        executionArn: sfn.JsonPath.executionId,
        startedAt: sfn.JsonPath.stringAt('$.startedAt'),
        rtoSeconds: sfn.JsonPath.numberAt('$.settings.rtoSeconds'),
        healthUrls: sfn.JsonPath.listAt('$.settings.healthUrls'),
        settings: sfn.JsonPath.objectAt('$.settings'),
      },
    });

    const cleanupPayload = sfn.TaskInput.fromObject({
      executionArn: sfn.JsonPath.executionId,
      database: sfn.JsonPath.stringAt('$.scratchDatabase'),
      host: sfn.JsonPath.stringAt('$.settings.scratchHost'),
      port: sfn.JsonPath.stringAt('$.settings.scratchPort'),
    });
    const dropLeftover = new tasks.LambdaInvoke(this, DrillWorkflow.DROP_LEFTOVER_STATE, {
      lambdaFunction: props.cleanupFunction,
      payloadResponseOnly: true,
      payload: cleanupPayload,
      resultPath: sfn.JsonPath.DISCARD,
    });

    const restore = jobRunTask(this, DrillWorkflow.RESTORE_STATE, props.task, {
      command: 'restore',
      environment: [
        { name: JobEnv.database, value: sfn.JsonPath.stringAt('$.database') },
        { name: JobEnv.targetDatabase, value: sfn.JsonPath.stringAt('$.scratchDatabase') },
        { name: JobEnv.dbHost, value: sfn.JsonPath.stringAt('$.settings.scratchHost') },
        { name: JobEnv.dbPort, value: sfn.JsonPath.stringAt('$.settings.scratchPort') },
        { name: JobEnv.secretEnv, value: DrillWorkflow.SCRATCH_SECRET_ENV },
        // The newest complete backup; the job falls back to an older one when it fails its checksums.
        // TimescaleDB policies stay held in the scratch copy: a run before verify would change what it compares.
        { name: JobEnv.args, value: JSON.stringify(['--backup', 'latest', '--hold-timescale-jobs']) },
        { name: JobEnv.resultName, value: sfn.JsonPath.stringAt('$.restoreResultName') },
      ],
      taskTimeout: restoreTimeout,
    });

    // ECS returns exit codes, not output: the job recorded its `dr restore --json` line in the vault.
    // Read here for the backup actually restored (after any fallback), which verify must compare with.
    const resultsPrefix = BackupVault.RESTORE_RESULTS_PREFIX;
    const readResult = new tasks.CallAwsService(this, DrillWorkflow.READ_RESULT_STATE, {
      service: 's3',
      action: 'getObject',
      iamResources: [props.vault.arnForRestoreResults()],
      parameters: {
        Bucket: props.vault.bucket.bucketName,
        Key: sfn.JsonPath.format(`${resultsPrefix}{}.json`, sfn.JsonPath.stringAt('$.restoreResultName')),
      },
      resultSelector: { 'record.$': 'States.StringToJson($.Body)' },
      resultPath: '$.restoreRecord',
    });
    readResult.addRetry({
      errors: ['S3.S3Exception', 'S3.SdkClientException'],
      interval: Duration.seconds(5),
      maxAttempts: 3,
      backoffRate: 2,
    });

    const verify = new tasks.LambdaInvoke(this, DrillWorkflow.VERIFY_STATE, {
      lambdaFunction: props.verifyFunction,
      payloadResponseOnly: true,
      payload: sfn.TaskInput.fromObject({
        executionArn: sfn.JsonPath.executionId,
        database: sfn.JsonPath.stringAt('$.database'),
        backupId: sfn.JsonPath.stringAt('$.restoreRecord.record.result.backup.id'),
        targetDatabase: sfn.JsonPath.stringAt('$.scratchDatabase'),
        host: sfn.JsonPath.stringAt('$.settings.scratchHost'),
        port: sfn.JsonPath.stringAt('$.settings.scratchPort'),
        healthUrls: sfn.JsonPath.listAt('$.healthUrls'),
      }),
      resultPath: '$.verify',
    });

    // Always reached: after the verification, and from every failure before it.
    const cleanup = new tasks.LambdaInvoke(this, DrillWorkflow.CLEANUP_STATE, {
      lambdaFunction: props.cleanupFunction,
      payloadResponseOnly: true,
      payload: cleanupPayload,
      resultPath: '$.scratch',
    });
    cleanup.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(10), maxAttempts: 2, backoffRate: 2 });

    const report = new tasks.LambdaInvoke(this, DrillWorkflow.REPORT_STATE, {
      lambdaFunction: props.reportFunction,
      payloadResponseOnly: true,
      // No payload: the whole drill state (a Parameters path selecting nothing would be a runtime
      // error, and which of verify, scratch and errors are present is exactly how far the drill got).
      resultSelector: { 'passed.$': '$.passed' },
      resultPath: '$.report',
    });

    // A caught error becomes the report's {step, Error, Cause}.
    const noteError = (name: string, step: string, resultPath = '$.errors') =>
      sfn.Pass.jsonPath(this, name, {
        parameters: {
          step,
          Error: sfn.JsonPath.stringAt('$.caught.Error'),
          Cause: sfn.JsonPath.stringAt('$.caught.Cause'),
        },
        resultPath,
      });
    const caught = { errors: [sfn.Errors.ALL], resultPath: '$.caught' };
    dropLeftover.addCatch(noteError('Note leftover cleanup error', 'cleanup').next(cleanup), caught);
    restore.addCatch(noteError('Note restore error', 'restore').next(cleanup), caught);
    readResult.addCatch(noteError('Note restore result error', 'restore').next(cleanup), caught);
    verify.addCatch(noteError('Note verify error', 'verify-data').next(cleanup), caught);

    // A failed cleanup: the scratch database is reported as not dropped, the error added to any earlier one.
    const scratchKept = sfn.Pass.jsonPath(this, 'Scratch database kept', {
      parameters: { database: sfn.JsonPath.stringAt('$.scratchDatabase'), dropped: false },
      resultPath: '$.scratch',
    });
    const addCleanupError = sfn.Pass.jsonPath(this, 'Add cleanup error', {
      parameters: {
        all: sfn.JsonPath.array(sfn.JsonPath.stringAt('$.errors'), sfn.JsonPath.stringAt('$.cleanupError')),
      },
      resultPath: '$.errorList',
    });
    // A Pass without Parameters passes its input on: here the two-error list, into $.errors.
    const listErrors = sfn.Pass.jsonPath(this, 'List errors', { inputPath: '$.errorList.all', resultPath: '$.errors' });
    const onlyCleanupError = sfn.Pass.jsonPath(this, 'Only the cleanup error', {
      inputPath: '$.cleanupError',
      resultPath: '$.errors',
    });
    cleanup.addCatch(
      noteError('Note cleanup error', 'cleanup', '$.cleanupError')
        .next(scratchKept)
        .next(
          sfn.Choice.jsonPath(this, 'Earlier error?')
            .when(sfn.Condition.isPresent('$.errors'), addCleanupError.next(listErrors).next(report))
            .otherwise(onlyCleanupError.next(report)),
        ),
      caught,
    );

    // RUN_JOB succeeds whenever the task stops: the exit code says whether the restore worked. On
    // failure the report reads the job's record for dr's error and hint.
    const checkRestore = sfn.Choice.jsonPath(this, 'Restore succeeded?')
      .when(
        sfn.Condition.and(sfn.Condition.isPresent(JOB_EXIT_CODE), sfn.Condition.numberEquals(JOB_EXIT_CODE, 0)),
        readResult,
      )
      .otherwise(cleanup);

    const recordPassed = sfn.Pass.jsonPath(this, 'Record passed drill', {
      parameters: { name: sfn.JsonPath.stringAt('$.database'), status: 'PASSED', ok: 'yes' },
    });
    const recordFailed = sfn.Pass.jsonPath(this, 'Record failed drill', {
      parameters: { name: sfn.JsonPath.stringAt('$.database'), status: 'FAILED', ok: 'no' },
    });
    const judge = sfn.Choice.jsonPath(this, 'Drill passed?')
      .when(sfn.Condition.booleanEquals('$.report.passed', true), recordPassed)
      .otherwise(recordFailed);
    const recordUnreported = sfn.Pass.jsonPath(this, 'Record unreported drill', {
      parameters: {
        name: sfn.JsonPath.stringAt('$.database'),
        status: 'UNREPORTED',
        ok: 'no',
        error: sfn.JsonPath.objectAt('$.caught'),
      },
    });
    report.addCatch(recordUnreported, caught);

    const drillOne = nameScratch.next(dropLeftover).next(restore).next(checkRestore);
    readResult.next(verify);
    verify.next(cleanup);
    cleanup.next(report);
    report.next(judge);

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
    }).itemProcessor(drillOne);

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
