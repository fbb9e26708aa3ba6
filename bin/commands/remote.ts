/**
 * `dr remote restore` and `dr remote status`: restores run by the deployed restore state machine
 * (lib/constructs/workflows/restore-workflow.ts), started and watched from a terminal. The flags
 * build the same request the Step Functions console takes (core/restore/request.ts), validated here
 * with the same rules before anything starts; the state machine validates it again with the
 * configured database list.
 */
import { randomBytes } from 'node:crypto';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { DrError } from '../../core/errors.ts';
import { cjsExports } from '../../core/interop.ts';
import {
  InvalidRestoreRequest,
  parseRestoreRequest,
  type RestoreRequest,
  type RestoreRequestInput,
} from '../../core/restore/request.ts';
import type { RestoreSummary } from '../../core/restore/summary.ts';
import { COMMON, type Command, type Io, optionalString, required, usage, type Values } from './args.ts';

/** The stack name bin/app.ts deploys, and its output holding the restore state machine's ARN. */
export const DEFAULT_STACK = 'CryptoStockDr';
export const RESTORE_OUTPUT = 'RestoreStateMachineArn';

/**
 * The AWS clients, created on first use (the SDKs load only for remote commands). Tests replace
 * these factories with mocked clients: Step Functions and CloudFormation have no local equivalent.
 */
export const remoteClients = {
  async sfn(region?: string): Promise<Pick<SFNClient, 'send'>> {
    const { SFNClient } = cjsExports(await import('@aws-sdk/client-sfn'), 'SFNClient');
    return new SFNClient(region ? { region } : {});
  },
  async cloudFormation(region?: string): Promise<Pick<CloudFormationClient, 'send'>> {
    const { CloudFormationClient } = cjsExports(await import('@aws-sdk/client-cloudformation'), 'CloudFormationClient');
    return new CloudFormationClient(region ? { region } : {});
  },
};

const TARGET: Command['options'] = {
  'state-machine-arn': { type: 'string' },
  stack: { type: 'string', default: DEFAULT_STACK },
  region: { type: 'string' },
};

/** Request field → the flag that sets it, so validation messages speak in flags. */
const FLAG_OF: Readonly<Record<string, string>> = {
  'target.overwrite': '--overwrite',
  'target.confirm': '--confirm',
  'target.database': '--target-database',
  timeColumn: '--time-column',
  database: '--database',
  backup: '--backup',
  tables: '--tables',
  since: '--since',
  until: '--until',
  at: '--at',
};

/** The request the flags describe; the mode follows from them (pitr with --at, range with --since/--until, table with --tables, else full). */
export function requestFromFlags(v: Values): RestoreRequest {
  const tables = optionalString(v, 'tables');
  const since = optionalString(v, 'since');
  const until = optionalString(v, 'until');
  const timeColumn = optionalString(v, 'time-column');
  const at = optionalString(v, 'at');
  if ((since || until || timeColumn) && !tables)
    throw usage('--since, --until and --time-column need --tables (a range restore applies to named tables)');
  if (timeColumn && !(since || until)) throw usage('--time-column needs --since and --until');
  const raw: RestoreRequestInput = {
    database: required(v, 'database'),
    backup: optionalString(v, 'backup') ?? 'latest',
    mode: at ? 'pitr' : since || until ? 'range' : tables ? 'table' : 'full',
    ...(tables
      ? {
          tables: tables
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
        }
      : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(timeColumn ? { timeColumn } : {}),
    ...(at ? { at } : {}),
    target: {
      database: required(v, 'target-database'),
      overwrite: v.overwrite === true,
      ...(typeof v.confirm === 'string' ? { confirm: v.confirm } : {}),
    },
  };
  try {
    return parseRestoreRequest(raw);
  } catch (err) {
    if (!(err instanceof InvalidRestoreRequest)) throw err;
    const problems = err.problems.map((p) => {
      const field = Object.keys(FLAG_OF).find((f) => p.startsWith(`${f}:`));
      const text = field ? `${FLAG_OF[field]}${p.slice(field.length)}` : p;
      return text
        .replace('set "overwrite": true', 'pass --overwrite')
        .replace(/needs "confirm": "([^"]+)" in target/, 'needs --confirm $1')
        .replace('target.database "', '--target-database "');
    });
    throw new DrError(`invalid restore: ${problems.join('; ')}`, 'see dr remote restore --help', 2);
  }
}

/** The execution name: readable in the console, unique, within Step Functions' 80 characters. */
export function executionName(request: RestoreRequest, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const suffix = `-${stamp}-${randomBytes(3).toString('hex')}`;
  return `restore-${request.mode}-${request.database}`.slice(0, 80 - suffix.length) + suffix;
}

const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:[^:]+:[^:]+$/;

async function stateMachineArn(v: Values, io: Io): Promise<string> {
  const given = optionalString(v, 'state-machine-arn');
  if (given) {
    if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/.test(given)) {
      throw usage(
        `--state-machine-arn "${given}" is not a state machine ARN; copy the stack output ${RESTORE_OUTPUT}, e.g. arn:aws:states:eu-west-1:111122223333:stateMachine:RestoreWorkflowStateMachine-abc`,
      );
    }
    return given;
  }
  const stack = optionalString(v, 'stack') ?? DEFAULT_STACK;
  const cfn = await remoteClients.cloudFormation(optionalString(v, 'region'));
  const { DescribeStacksCommand } = cjsExports(await import('@aws-sdk/client-cloudformation'), 'DescribeStacksCommand');
  let outputs: { OutputKey?: string; OutputValue?: string }[] | undefined;
  try {
    outputs = (await cfn.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0]?.Outputs;
  } catch (err) {
    throw awsError(
      err,
      `read the outputs of stack ${stack}`,
      `deploy it (npx cdk deploy), or pass --stack NAME / --region REGION, or --state-machine-arn`,
    );
  }
  const arn = outputs?.find((o) => o.OutputKey === RESTORE_OUTPUT)?.OutputValue;
  if (!arn)
    throw new DrError(
      `stack ${stack} has no ${RESTORE_OUTPUT} output`,
      'deploy the current version of the stack (npx cdk deploy), or pass --state-machine-arn',
    );
  io.log(`restore state machine from stack ${stack}: ${arn}`);
  return arn;
}

function awsError(err: unknown, what: string, hint: string): DrError {
  const e = err as { name?: string; message?: string };
  const message = e.message ?? String(err);
  // The environment first: "deploy it" is the wrong advice without a region or credentials.
  if (/region is missing|region not accepted: region=""/i.test(message)) {
    return new DrError(
      `could not ${what}: no AWS region configured`,
      'set AWS_REGION (or AWS_PROFILE with a region), or pass --region REGION',
      1,
      { cause: err },
    );
  }
  if (e.name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new DrError(
      `could not ${what}: no AWS credentials found`,
      'configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO or an instance role)',
      1,
      { cause: err },
    );
  }
  if (
    [
      'InvalidClientTokenId',
      'UnrecognizedClientException',
      'ExpiredToken',
      'ExpiredTokenException',
      'SignatureDoesNotMatch',
    ].includes(e.name ?? '')
  ) {
    return new DrError(
      `could not ${what}: the AWS credentials were refused (${e.name})`,
      'refresh or fix the credentials (aws sso login, AWS_PROFILE)',
      1,
      { cause: err },
    );
  }
  return new DrError(`could not ${what}: ${e.name ?? 'Error'}: ${message}`, hint, 1, { cause: err });
}

/** One execution, as dr shows it. */
export interface ExecutionView {
  readonly executionArn: string;
  readonly name: string;
  readonly status: string;
  readonly startDate: string | null;
  readonly stopDate: string | null;
  readonly input: unknown;
  /** On success: the restore summary. */
  readonly output: RestoreSummary | null;
  /** On failure: the error name and its cause (for a restore: dr's reason). */
  readonly error: string | null;
  readonly cause: string | null;
  /** States entered so far, in order. */
  readonly states: readonly { readonly name: string; readonly at: string }[];
}

// biome-ignore lint/suspicious/noExplicitAny: an execution's input and output are whatever JSON the state machine carried.
const parseJson = (text: string | undefined): any => {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};
const iso = (d: Date | undefined) => (d ? new Date(d).toISOString() : null);

/** Reads an execution's history from `after` (event ids grow); calls `onEvent` for each new event. */
async function historySince(
  sfn: Pick<SFNClient, 'send'>,
  executionArn: string,
  after: number,
  onEvent: (e: HistoryEvent) => void,
): Promise<number> {
  const { GetExecutionHistoryCommand } = cjsExports(await import('@aws-sdk/client-sfn'), 'GetExecutionHistoryCommand');
  let last = after;
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000, includeExecutionData: false }),
    );
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= last) continue;
      last = event.id ?? last;
      onEvent(event);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return last;
}

async function describe(
  sfn: Pick<SFNClient, 'send'>,
  executionArn: string,
  states: { name: string; at: string }[],
): Promise<ExecutionView> {
  const { DescribeExecutionCommand } = cjsExports(await import('@aws-sdk/client-sfn'), 'DescribeExecutionCommand');
  const d = await sfn.send(new DescribeExecutionCommand({ executionArn })).catch((err: unknown) => {
    throw awsError(
      err,
      `describe execution ${executionArn}`,
      'check the ARN (dr remote restore prints it) and the region (--region)',
    );
  });
  return {
    executionArn,
    name: d.name ?? executionArn.split(':').pop()!,
    status: d.status ?? 'UNKNOWN',
    startDate: iso(d.startDate),
    stopDate: iso(d.stopDate),
    input: parseJson(d.input),
    output: d.status === 'SUCCEEDED' ? parseJson(d.output) : null,
    error: d.error ?? null,
    cause: d.cause ?? null,
    states,
  };
}

const entered = (e: HistoryEvent) => (e.type?.endsWith('StateEntered') ? e.stateEnteredEventDetails?.name : undefined);

async function watch(
  sfn: Pick<SFNClient, 'send'>,
  executionArn: string,
  io: Io,
  pollMs: number,
): Promise<ExecutionView> {
  const states: { name: string; at: string }[] = [];
  let last = 0;
  for (;;) {
    last = await historySince(sfn, executionArn, last, (e) => {
      const name = entered(e);
      if (name) {
        states.push({ name, at: iso(e.timestamp) ?? '' });
        io.log(`${(iso(e.timestamp) ?? '').slice(11, 19)} ${name}`);
      }
    });
    const view = await describe(sfn, executionArn, states);
    if (view.status !== 'RUNNING' && view.status !== 'PENDING_REDRIVE') return view;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export interface RemoteRestoreResult {
  readonly stateMachineArn: string;
  readonly executionArn: string;
  readonly name: string;
  readonly request: RestoreRequest;
  readonly waited: boolean;
  /** With --wait: the finished execution. */
  readonly execution: ExecutionView | null;
}

const failed = (status: string | undefined) =>
  status !== undefined && ['FAILED', 'TIMED_OUT', 'ABORTED'].includes(status);

export const remoteRestoreCommand: Command = {
  summary: 'Start a restore on the deployed restore state machine (--wait to follow it)',
  usage: `Usage: dr remote restore --database NAME --target-database NAME [flags]

Starts the deployed restore state machine with the request these flags describe (the same JSON the
Step Functions console takes; see the README). The target server is the database's configured one.

  --database NAME         source database (a configured one; its backups are restored)
  --target-database NAME  restore into this database on the same server
  --backup ID             a backup id, or latest (default; falls back past a backup failing verification)
  --tables A,B            restore only these tables (table mode), replaced rows kept in safety tables
  --since TIME            with --tables and --until: only rows with since <= time < until (range mode),
  --until TIME            ISO 8601 with a zone (2026-01-10T00:00:00Z) or a date (UTC midnight)
  --time-column COL       column the range applies to (default: the one the backup recorded)
  --at TIME               point-in-time restore (mode pitr) from the stack's pgBackRest repository:
                          the database, or with --tables its tables, as they were at TIME (no --backup)
  --overwrite             needed when --target-database is the source database itself (production);
                          in a full restore it also replaces a non-empty target
  --confirm NAME          with --overwrite, a whole-database restore into production: its name again
  --wait                  follow the execution (states on stderr) and print the summary; exit 1 if it fails
  --poll-seconds N        how often --wait polls (default 10)
  --name NAME             execution name (default: restore-<mode>-<database>-<UTC time>-<random>)
  --state-machine-arn ARN the state machine (default: output ${RESTORE_OUTPUT} of --stack)
  --stack NAME            the deployed stack (default ${DEFAULT_STACK})
  --region REGION         AWS region (default: the AWS environment's)
  --json, --quiet`,
  options: {
    ...COMMON,
    ...TARGET,
    database: { type: 'string' },
    'target-database': { type: 'string' },
    backup: { type: 'string', default: 'latest' },
    tables: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'time-column': { type: 'string' },
    at: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    confirm: { type: 'string' },
    wait: { type: 'boolean', default: false },
    'poll-seconds': { type: 'string' },
    name: { type: 'string' },
  },
  async run(v, io): Promise<RemoteRestoreResult> {
    const request = requestFromFlags(v);
    const pollRaw = optionalString(v, 'poll-seconds') ?? '10';
    const poll = Number(pollRaw);
    if (!Number.isFinite(poll) || poll < 1) throw usage(`--poll-seconds must be a number ≥ 1, got "${pollRaw}"`);
    const name = optionalString(v, 'name') ?? executionName(request);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw usage(`--name "${name}" is not a valid execution name; use 1-80 letters, digits, - and _`);
    const arn = await stateMachineArn(v, io);
    // The state machine's own region (ARN field 4), unless --region says otherwise.
    const sfn = await remoteClients.sfn(optionalString(v, 'region') ?? arn.split(':')[3]);
    const { StartExecutionCommand } = cjsExports(await import('@aws-sdk/client-sfn'), 'StartExecutionCommand');
    let executionArn: string;
    try {
      executionArn = (
        await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(request) }))
      ).executionArn!;
    } catch (err) {
      throw awsError(
        err,
        `start the restore state machine ${arn}`,
        'check the ARN, the region and that your credentials may states:StartExecution',
      );
    }
    io.log(`started ${executionArn}`);
    const execution = v.wait === true ? await watch(sfn, executionArn, io, poll * 1000) : null;
    return { stateMachineArn: arn, executionArn, name, request, waited: v.wait === true, execution };
  },
  human: (r: RemoteRestoreResult) => {
    if (!r.execution) {
      return [
        `started restore ${r.name} (${r.request.mode} of ${r.request.database} into ${r.request.target.database})`,
        `  ${r.executionArn}`,
        `  follow it: dr remote status ${r.executionArn}`,
      ].join('\n');
    }
    return humanExecution(r.execution);
  },
  exitCode: (r: RemoteRestoreResult) => (failed(r.execution?.status) ? 1 : 0),
};

export const remoteStatusCommand: Command = {
  summary: 'Show one restore execution: status, states entered, summary or failure reason',
  usage: `Usage: dr remote status <executionArn> [--region REGION] [--json]

  <executionArn>     the ARN dr remote restore printed (or --execution ARN)
  --region REGION    default: the ARN's region
  --json, --quiet

  Exit status 0 when the execution succeeded or is still running, 1 when it failed, timed out or was aborted.`,
  positional: 'execution',
  options: { ...COMMON, execution: { type: 'string' }, region: { type: 'string' } },
  async run(v): Promise<ExecutionView> {
    const arn = required(v, 'execution');
    const match = EXECUTION_ARN.exec(arn);
    if (!match)
      throw usage(
        `"${arn}" is not an execution ARN; use the one dr remote restore printed (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
      );
    const sfn = await remoteClients.sfn(optionalString(v, 'region') ?? match[1]);
    const states: { name: string; at: string }[] = [];
    try {
      await historySince(sfn, arn, 0, (e) => {
        const name = entered(e);
        if (name) states.push({ name, at: iso(e.timestamp) ?? '' });
      });
    } catch (err) {
      throw awsError(err, `read the history of ${arn}`, 'check the ARN and the region (--region)');
    }
    return describe(sfn, arn, states);
  },
  human: (r: ExecutionView) => humanExecution(r),
  exitCode: (r: ExecutionView) => (failed(r.status) ? 1 : 0),
};

function humanExecution(e: ExecutionView): string {
  const lines = [
    `${e.name}: ${e.status}${e.startDate ? ` (started ${e.startDate}${e.stopDate ? `, stopped ${e.stopDate}` : ''})` : ''}`,
  ];
  if (e.states.length) lines.push(`  states: ${e.states.map((s) => s.name).join(' → ')}`);
  const s = e.output;
  if (s && typeof s === 'object' && s.backup) {
    if (s.fallback) lines.push(`  FALLBACK: ${s.fallback.note}`);
    lines.push(
      `  restored backup ${s.backup.id} (${s.backup.tier}) of ${s.database} into ${s.targetDatabase}, mode ${s.mode}`,
    );
    lines.push(`  checksums: ${s.checksums.note}`);
    if (s.tables) {
      for (const t of s.tables)
        lines.push(
          `  ${t.table}: ${t.rowsReplaced} rows replaced, ${t.rowsRestored} restored; ${t.safetyTable ? `previous rows in ${t.safetyTable}` : 'no previous rows'}`,
        );
    } else if (s.rows !== null) {
      lines.push(`  ${s.rows} rows`);
    }
    lines.push(`  restore ${s.restoreSeconds} s, execution ${s.executionSeconds} s; result ${s.resultKey}`);
  } else if (e.status === 'SUCCEEDED' && e.output !== null) {
    lines.push(`  output: ${JSON.stringify(e.output)}`);
  }
  if (e.error) lines.push(`  ${e.error}: ${e.cause ?? ''}`);
  return lines.join('\n');
}
