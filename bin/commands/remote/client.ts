/** The AWS side of `dr remote`: finding the state machine, reading executions and their history, and AWS errors in dr's terms. */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { DrError } from '../../../core/errors.ts';
import { cjsExports } from '../../../core/interop.ts';
import type { RestoreSummary } from '../../../core/restore/summary.ts';
import { type Io, optionalString, usage, type Values } from '../args.ts';

/** The stack name bin/app.ts deploys, and its output holding the restore state machine's ARN. */
export const DEFAULT_STACK = 'CryptoStockDr';
export const RESTORE_OUTPUT = 'RestoreStateMachineArn';

/**
 * The AWS clients the remote commands use, made per region. Passed to the commands (index.ts gives
 * them AWS_CLIENTS); tests pass mocked ones: Step Functions and CloudFormation have no local equivalent.
 */
export interface RemoteClients {
  readonly sfn: (region?: string) => Promise<Pick<SFNClient, 'send'>>;
  readonly cloudFormation: (region?: string) => Promise<Pick<CloudFormationClient, 'send'>>;
}

/** The real clients, created on first use (the SDKs load only for remote commands). */
export const AWS_CLIENTS: RemoteClients = {
  async sfn(region?: string): Promise<Pick<SFNClient, 'send'>> {
    const { SFNClient } = cjsExports(await import('@aws-sdk/client-sfn'), 'SFNClient');
    return new SFNClient(region ? { region } : {});
  },
  async cloudFormation(region?: string): Promise<Pick<CloudFormationClient, 'send'>> {
    const { CloudFormationClient } = cjsExports(await import('@aws-sdk/client-cloudformation'), 'CloudFormationClient');
    return new CloudFormationClient(region ? { region } : {});
  },
};

export const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:[^:]+:[^:]+$/;

/** The state machine: --state-machine-arn, else the output of --stack. */
export async function stateMachineArn(v: Values, clients: RemoteClients, io: Io): Promise<string> {
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
  const cfn = await clients.cloudFormation(optionalString(v, 'region'));
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

export function awsError(err: unknown, what: string, hint: string): DrError {
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
export const iso = (d: Date | undefined) => (d ? new Date(d).toISOString() : null);

/** Reads an execution's history from `after` (event ids grow); calls `onEvent` for each new event. */
export async function historySince(
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

export async function describe(
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

export const entered = (e: HistoryEvent) =>
  e.type?.endsWith('StateEntered') ? e.stateEnteredEventDetails?.name : undefined;

/** Polls until the execution ends, logging each state entered. */
export async function watch(
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
