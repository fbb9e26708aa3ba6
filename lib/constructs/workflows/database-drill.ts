import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { JobEnv } from '../../../core/contract.ts';
import { SCRATCH_NAME_FORMAT } from '../../../core/drill/scratch.ts';
import { DrJob } from '../job.ts';
import { BackupVault } from '../vault.ts';
import { JOB_EXIT_CODE, type JobTask, jobRunTask } from './job-task.ts';

export interface DatabaseDrillProps {
  /** Where `dr restore` runs into the staging server (DrillWorkflowProps.task). */
  readonly task: JobTask;
  /** The vault the job records its restore result in. */
  readonly vault: BackupVault;
  readonly verifyFunction: lambda.IFunction;
  readonly cleanupFunction: lambda.IFunction;
  readonly reportFunction: lambda.IFunction;
  /** Longest the restore task may run. */
  readonly restoreTimeout: Duration;
}

/**
 * One database's drill, the item processor of DrillWorkflow's Map: name the scratch database, drop
 * a leftover, restore into it, read the restore's record, verify, ALWAYS drop the scratch database,
 * write the report, and end in one record `{name, status, ok}` (PASSED, FAILED or UNREPORTED).
 * Its input is the Map's item: `{database: {name}, startedAt, yyyymmdd, settings}`.
 */
export class DatabaseDrill extends sfn.StateMachineFragment {
  /** State names, e.g. for local test overrides. */
  public static readonly RESTORE_STATE = 'Restore into scratch database';
  public static readonly READ_RESULT_STATE = 'Read restore result';
  public static readonly VERIFY_STATE = 'Verify scratch database';
  public static readonly DROP_LEFTOVER_STATE = 'Drop leftover scratch database';
  public static readonly CLEANUP_STATE = 'Drop scratch database';
  public static readonly REPORT_STATE = 'Write drill report';

  public readonly startState: sfn.State;
  public readonly endStates: sfn.INextable[];

  constructor(scope: Construct, id: string, props: DatabaseDrillProps) {
    super(scope, id);
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
    const dropLeftover = new tasks.LambdaInvoke(this, DatabaseDrill.DROP_LEFTOVER_STATE, {
      lambdaFunction: props.cleanupFunction,
      payloadResponseOnly: true,
      payload: cleanupPayload,
      resultPath: sfn.JsonPath.DISCARD,
    });

    const restore = jobRunTask(this, DatabaseDrill.RESTORE_STATE, props.task, {
      command: 'restore',
      environment: [
        { name: JobEnv.database, value: sfn.JsonPath.stringAt('$.database') },
        { name: JobEnv.targetDatabase, value: sfn.JsonPath.stringAt('$.scratchDatabase') },
        { name: JobEnv.dbHost, value: sfn.JsonPath.stringAt('$.settings.scratchHost') },
        { name: JobEnv.dbPort, value: sfn.JsonPath.stringAt('$.settings.scratchPort') },
        { name: JobEnv.secretEnv, value: DrJob.SCRATCH_SECRET_ENV },
        // The newest complete backup; the job falls back to an older one when it fails its checksums.
        // TimescaleDB policies stay held in the scratch copy: a run before verify would change what it compares.
        { name: JobEnv.args, value: JSON.stringify(['--backup', 'latest', '--hold-timescale-jobs']) },
        { name: JobEnv.resultName, value: sfn.JsonPath.stringAt('$.restoreResultName') },
      ],
      taskTimeout: props.restoreTimeout,
    });

    // ECS returns exit codes, not output: the job recorded its `dr restore --json` line in the vault.
    // Read here for the backup actually restored (after any fallback), which verify must compare with.
    const resultsPrefix = BackupVault.RESTORE_RESULTS_PREFIX;
    const readResult = new tasks.CallAwsService(this, DatabaseDrill.READ_RESULT_STATE, {
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

    const verify = new tasks.LambdaInvoke(this, DatabaseDrill.VERIFY_STATE, {
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
    const cleanup = new tasks.LambdaInvoke(this, DatabaseDrill.CLEANUP_STATE, {
      lambdaFunction: props.cleanupFunction,
      payloadResponseOnly: true,
      payload: cleanupPayload,
      resultPath: '$.scratch',
    });
    cleanup.addRetry({ errors: [sfn.Errors.ALL], interval: Duration.seconds(10), maxAttempts: 2, backoffRate: 2 });

    const report = new tasks.LambdaInvoke(this, DatabaseDrill.REPORT_STATE, {
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

    nameScratch.next(dropLeftover).next(restore).next(checkRestore);
    readResult.next(verify);
    verify.next(cleanup);
    cleanup.next(report);
    report.next(judge);
    this.startState = nameScratch;
    this.endStates = [recordPassed, recordFailed, recordUnreported];
  }
}
