/**
 * dr remote restore / dr remote status. Validation runs for real (the real CLI process for the bad
 * input cases). Step Functions and CloudFormation have no local equivalent: those calls go to
 * mocked clients, and the tests that use them say so.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../bin/commands/index.ts';
import type { RemoteClients } from '../../bin/commands/remote/client.ts';
import { remoteRestoreCommand, remoteStatusCommand } from '../../bin/commands/remote/commands.ts';
import { executionName, requestFromFlags } from '../../bin/commands/remote/request.ts';
import { main } from '../../bin/dr.ts';
import { errorLines, runDr } from '../support/cli.ts';

const SM = 'arn:aws:states:eu-west-1:111122223333:stateMachine:RestoreWorkflowStateMachine-abc';
const execArn = (name: string) =>
  `arn:aws:states:eu-west-1:111122223333:execution:RestoreWorkflowStateMachine-abc:${name}`;

const SUMMARY = {
  status: 'SUCCEEDED',
  execution: 'x',
  mode: 'table',
  database: 'crypto_stock',
  targetDatabase: 'crypto_stock_restored',
  backup: { id: '20260110T020000Z-a1b2c3', tier: 'daily', startedAt: '2026-01-10T02:00:00.000Z' },
  fallback: {
    used: true,
    skipped: [{ id: '20260111T020000Z-d4e5f6', reason: 'sha256 mismatch' }],
    note: 'the newest backup 20260111T020000Z-d4e5f6 failed verification; restored 20260110T020000Z-a1b2c3 instead',
  },
  checksums: {
    verified: true,
    files: 3,
    bytes: 1000,
    note: "3 files verified against the manifest's SHA-256 before the target was touched",
  },
  rows: 3000,
  rowsReplaced: 2990,
  tables: [
    {
      table: 'public.candles',
      rowsReplaced: 2990,
      rowsRestored: 3000,
      safetyTable: 'public.candles__dr_saved_20260112t000000z',
    },
  ],
  range: null,
  restoreSeconds: 4.2,
  executionSeconds: 61.5,
  warnings: [],
  resultKey: 'results/restores/x.json',
};

/** The clients the last fakeAws() made; dr() gives them to the remote commands. */
let clients: RemoteClients;

/** A recording fake of the SFN and CloudFormation clients: the execution runs, then ends as `finish` says. */
function fakeAws(
  finish: { status: string; output?: unknown; error?: string; cause?: string },
  stackOutputs: { OutputKey: string; OutputValue: string }[] = [
    { OutputKey: 'RestoreStateMachineArn', OutputValue: SM },
  ],
) {
  const calls: { client: string; region?: string; command: string; input: any }[] = [];
  let describes = 0;
  const events = [
    { id: 1, type: 'ExecutionStarted', timestamp: new Date('2026-01-12T00:00:00Z') },
    {
      id: 2,
      type: 'TaskStateEntered',
      timestamp: new Date('2026-01-12T00:00:01Z'),
      stateEnteredEventDetails: { name: 'Validate request' },
    },
    {
      id: 3,
      type: 'TaskStateEntered',
      timestamp: new Date('2026-01-12T00:00:02Z'),
      stateEnteredEventDetails: { name: 'Run restore task' },
    },
    {
      id: 4,
      type: 'TaskStateEntered',
      timestamp: new Date('2026-01-12T00:01:00Z'),
      stateEnteredEventDetails: { name: 'Read restore result' },
    },
  ];
  const sfn: RemoteClients['sfn'] = async (region) =>
    ({
      async send(command: any) {
        const name = command.constructor.name;
        calls.push({ client: 'sfn', region, command: name, input: command.input });
        switch (name) {
          case 'StartExecutionCommand':
            return { executionArn: execArn(command.input.name), startDate: new Date('2026-01-12T00:00:00Z') };
          case 'GetExecutionHistoryCommand':
            // The history grows with each poll; paginated in pages of two.
            return describes === 0
              ? { events: events.slice(0, 3) }
              : command.input.nextToken
                ? { events: events.slice(2) }
                : { events: events.slice(0, 2), nextToken: 'page2' };
          case 'DescribeExecutionCommand': {
            describes++;
            const done = describes >= 2;
            return {
              executionArn: command.input.executionArn,
              name: command.input.executionArn.split(':').pop(),
              status: done ? finish.status : 'RUNNING',
              startDate: new Date('2026-01-12T00:00:00Z'),
              stopDate: done ? new Date('2026-01-12T00:01:02Z') : undefined,
              input: '{"database":"crypto_stock"}',
              output: done && finish.output ? JSON.stringify(finish.output) : undefined,
              error: done ? finish.error : undefined,
              cause: done ? finish.cause : undefined,
            };
          }
          default:
            throw new Error(`unexpected ${name}`);
        }
      },
    }) as any;
  const cloudFormation: RemoteClients['cloudFormation'] = async (region) =>
    ({
      async send(command: any) {
        calls.push({ client: 'cloudformation', region, command: command.constructor.name, input: command.input });
        if (command.input.StackName !== 'CryptoStockDr' && command.input.StackName !== 'OtherStack') {
          throw Object.assign(new Error(`Stack with id ${command.input.StackName} does not exist`), {
            name: 'ValidationError',
          });
        }
        return { Stacks: [{ StackName: command.input.StackName, Outputs: stackOutputs }] };
      },
    }) as any;
  clients = { sfn, cloudFormation };
  return calls;
}

async function dr(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _e, done) {
        append(String(chunk));
        done();
      },
    });
  const commands = {
    ...COMMANDS,
    'remote restore': remoteRestoreCommand(clients),
    'remote status': remoteStatusCommand(clients),
  };
  const code = await main(args, {
    commands,
    stdout: sink((s) => {
      stdout += s;
    }),
    stderr: sink((s) => {
      stderr += s;
    }),
  });
  let json: any = null;
  try {
    json = JSON.parse(stdout.trimEnd().split('\n').pop() ?? '');
  } catch {
    // human output
  }
  return { code, stdout, stderr, json };
}

describe('dr remote restore: request from flags (real validation)', () => {
  it('derives the mode from the flags and fills in the defaults', () => {
    expect(requestFromFlags({ database: 'crypto_stock', 'target-database': 'scratch' })).toEqual({
      database: 'crypto_stock',
      backup: 'latest',
      mode: 'full',
      target: { database: 'scratch', overwrite: false },
    });
    expect(
      requestFromFlags({ database: 'crypto_stock', 'target-database': 'scratch', tables: 'candles, alerts' }),
    ).toMatchObject({ mode: 'table', tables: ['candles', 'alerts'] });
    // The same quoting-aware list as dr restore --tables: a quoted name keeps its spaces and dots.
    expect(
      requestFromFlags({
        database: 'crypto_stock',
        'target-database': 'scratch',
        tables: '"Reporting"."Daily Summary", candles',
      }),
    ).toMatchObject({ mode: 'table', tables: ['"Reporting"."Daily Summary"', 'candles'] });
    expect(
      requestFromFlags({
        database: 'crypto_stock',
        'target-database': 'scratch',
        tables: 'candles',
        since: '2026-01-10',
        until: '2026-01-11T00:00:00Z',
        'time-column': 'time',
      }),
    ).toMatchObject({
      mode: 'range',
      since: '2026-01-10T00:00:00Z',
      until: '2026-01-11T00:00:00Z',
      timeColumn: 'time',
    });
    expect(
      requestFromFlags({
        database: 'crypto_stock',
        'target-database': 'scratch',
        at: '2026-01-15T14:30:00Z',
        tables: 'candles',
        since: '2026-01-01',
        until: '2026-02-01',
      }),
    ).toMatchObject({
      mode: 'pitr',
      at: '2026-01-15T14:30:00Z',
      tables: ['candles'],
      since: '2026-01-01T00:00:00Z',
      until: '2026-02-01T00:00:00Z',
    });
  });

  it('--at (mode pitr) refuses a logical --backup id and a future time, in flag terms', () => {
    const base = { database: 'crypto_stock', 'target-database': 'scratch' };
    expect(() => requestFromFlags({ ...base, at: '2026-01-15T14:30:00Z', backup: '20260110T020000Z-a1b2c3' })).toThrow(
      '--backup: not used by mode "pitr"',
    );
    expect(() => requestFromFlags({ ...base, at: '2999-01-01T00:00:00Z' })).toThrow(
      '--at: 2999-01-01T00:00:00Z is in the future',
    );
  });

  it('names execution names readably within 80 characters', () => {
    const request = requestFromFlags({ database: 'crypto_stock', 'target-database': 'scratch', tables: 'candles' });
    expect(executionName(request, new Date('2026-01-12T08:30:00.123Z'))).toMatch(
      /^restore-table-crypto_stock-20260112T083000Z-[0-9a-f]{6}$/,
    );
    const long = requestFromFlags({ database: 'd'.repeat(63), 'target-database': 'scratch' });
    expect(executionName(long)).toHaveLength(80);
  });
});

describe('dr remote restore: bad input is refused before any AWS call (real CLI process)', () => {
  it('production target without --overwrite: one error line in flag terms, exit 2', async () => {
    const r = await runDr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'crypto_stock',
      '--tables',
      'candles',
    ]);
    expect(r.code).toBe(2);
    expect(errorLines(r)).toEqual([
      'dr remote restore: error: invalid restore: --overwrite: --target-database "crypto_stock" is a production database and this restore replaces the named tables\' rows there; pass --overwrite to do that deliberately, or restore into another name such as "crypto_stock_restored"; see dr remote restore --help',
    ]);
  });

  it('since not before until, a bad time, flags without --tables, missing flags', async () => {
    const range = await runDr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--tables',
      'candles',
      '--since',
      '2026-01-12',
      '--until',
      '2026-01-10',
    ]);
    expect(range.code).toBe(2);
    expect(errorLines(range)[0]).toContain('--since: 2026-01-12T00:00:00Z is not before until 2026-01-10T00:00:00Z');
    const bad = await runDr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--tables',
      'candles',
      '--since',
      'yesterday',
      '--until',
      '2026-01-10',
      '--json',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.json).toMatchObject({
      ok: false,
      error: expect.stringContaining('--since: must be an ISO 8601 time with a time zone'),
    });
    const orphan = await runDr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--since',
      '2026-01-10',
    ]);
    expect(errorLines(orphan)).toEqual([
      // The words of dr restore's rule (core/restore/request.ts restoreFlagProblem).
      'dr remote restore: error: --since needs --tables (a range restore applies to named tables); see dr remote restore --help',
    ]);
    const missing = await runDr(['remote', 'restore', '--database', 'crypto_stock']);
    expect(errorLines(missing)).toEqual([
      'dr remote restore: error: --target-database is required; see dr remote restore --help',
    ]);
  });

  it('dr remote status needs an execution ARN', async () => {
    const r = await runDr(['remote', 'status', 'not-an-arn']);
    expect(r.code).toBe(2);
    expect(errorLines(r)[0]).toContain('"not-an-arn" is not an execution ARN');
    expect(errorLines(await runDr(['remote', 'status', 'a', 'b']))[0]).toContain(
      'one execution argument expected, got 2',
    );
  });
});

describe('dr remote (mocked SFN and CloudFormation clients)', () => {
  it('starts the state machine found in the stack outputs with the validated request as input (mocked SFN/CFN clients)', async () => {
    const calls = fakeAws({ status: 'SUCCEEDED', output: SUMMARY });
    const r = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'crypto_stock_restored',
      '--tables',
      'candles',
      '--region',
      'eu-west-1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.map((c) => `${c.client}:${c.command}`)).toEqual([
      'cloudformation:DescribeStacksCommand',
      'sfn:StartExecutionCommand',
    ]);
    expect(calls[0]).toMatchObject({ region: 'eu-west-1', input: { StackName: 'CryptoStockDr' } });
    const start = calls[1]!.input;
    expect(start.stateMachineArn).toBe(SM);
    expect(start.name).toMatch(/^restore-table-crypto_stock-\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    // The very request the console takes, defaults filled in.
    expect(JSON.parse(start.input)).toEqual({
      database: 'crypto_stock',
      backup: 'latest',
      mode: 'table',
      tables: ['candles'],
      target: { database: 'crypto_stock_restored', overwrite: false },
    });
    expect(r.json).toMatchObject({ ok: true, executionArn: execArn(start.name), waited: false, execution: null });
  });

  it("--state-machine-arn skips CloudFormation and uses the ARN's region (mocked SFN client)", async () => {
    const calls = fakeAws({ status: 'SUCCEEDED' });
    const r = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--state-machine-arn',
      SM,
      '--name',
      'my-restore-1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.map((c) => c.command)).toEqual(['StartExecutionCommand']);
    expect(calls[0]).toMatchObject({ region: 'eu-west-1', input: { name: 'my-restore-1' } });
    expect(r.stdout).toContain(`follow it: dr remote status ${execArn('my-restore-1')}`);
  });

  it('--wait shows each state entered and the final summary (mocked SFN/CFN clients)', async () => {
    fakeAws({ status: 'SUCCEEDED', output: SUMMARY });
    const r = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'crypto_stock_restored',
      '--tables',
      'candles',
      '--wait',
      '--poll-seconds',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/(Validate request|Run restore task|Read restore result)$/gm)).toEqual([
      'Validate request',
      'Run restore task',
      'Read restore result',
    ]);
    expect(r.stdout).toContain('SUCCEEDED');
    expect(r.stdout).toContain('states: Validate request → Run restore task → Read restore result');
    expect(r.stdout).toContain(
      'FALLBACK: the newest backup 20260111T020000Z-d4e5f6 failed verification; restored 20260110T020000Z-a1b2c3 instead',
    );
    expect(r.stdout).toContain(
      "checksums: 3 files verified against the manifest's SHA-256 before the target was touched",
    );
    expect(r.stdout).toContain(
      'public.candles: 2990 rows replaced, 3000 restored; previous rows in public.candles__dr_saved_20260112t000000z',
    );
  });

  it('--wait exits 1 with the failure reason when the execution fails (mocked SFN/CFN clients)', async () => {
    fakeAws({
      status: 'FAILED',
      error: 'DR.RestoreFailed',
      cause: 'dr restore exited with code 1: target database scratch is not empty; pass --overwrite',
    });
    const r = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--wait',
      '--poll-seconds',
      '1',
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({
      ok: true,
      execution: {
        status: 'FAILED',
        error: 'DR.RestoreFailed',
        cause: expect.stringContaining('is not empty'),
        output: null,
      },
    });
  });

  it('says how to fix a missing stack or output (mocked CloudFormation client)', async () => {
    fakeAws({ status: 'SUCCEEDED' });
    const noStack = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--stack',
      'Nope',
    ]);
    expect(noStack.code).toBe(1);
    expect(noStack.stderr).toContain(
      'error: could not read the outputs of stack Nope: ValidationError: Stack with id Nope does not exist; deploy it (npx cdk deploy), or pass --stack NAME / --region REGION, or --state-machine-arn',
    );
    fakeAws({ status: 'SUCCEEDED' }, [{ OutputKey: 'BackupStateMachineArn', OutputValue: 'x' }]);
    const noOutput = await dr([
      'remote',
      'restore',
      '--database',
      'crypto_stock',
      '--target-database',
      'scratch',
      '--stack',
      'OtherStack',
    ]);
    expect(noOutput.stderr).toContain(
      'error: stack OtherStack has no RestoreStateMachineArn output; deploy the current version of the stack',
    );
  });

  it('dr remote status <arn> shows one execution: status, states, summary (mocked SFN client)', async () => {
    const calls = fakeAws({ status: 'SUCCEEDED', output: SUMMARY });
    await clients
      .sfn()
      .then((c) =>
        c.send({ constructor: { name: 'DescribeExecutionCommand' }, input: { executionArn: execArn('warm') } } as any),
      ); // first describe reports RUNNING
    const r = await dr(['remote', 'status', execArn('r1'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.filter((c) => c.command === 'GetExecutionHistoryCommand').map((c) => c.input.nextToken)).toEqual([
      undefined,
      'page2',
    ]);
    expect(calls.at(-1)).toMatchObject({
      region: 'eu-west-1',
      command: 'DescribeExecutionCommand',
      input: { executionArn: execArn('r1') },
    });
    expect(r.json).toMatchObject({
      ok: true,
      name: 'r1',
      status: 'SUCCEEDED',
      output: { backup: { id: '20260110T020000Z-a1b2c3' } },
      states: [{ name: 'Validate request' }, { name: 'Run restore task' }, { name: 'Read restore result' }],
    });
  });

  it('dr remote status exits 1 for a failed execution (mocked SFN client)', async () => {
    fakeAws({
      status: 'FAILED',
      error: 'InvalidRestoreRequest',
      cause: 'invalid restore request: mode: must be one of "full", "table", "range"',
    });
    await clients
      .sfn()
      .then((c) =>
        c.send({ constructor: { name: 'DescribeExecutionCommand' }, input: { executionArn: execArn('warm') } } as any),
      );
    const r = await dr(['remote', 'status', '--execution', execArn('bad')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('InvalidRestoreRequest: invalid restore request: mode: must be one of');
  });
});
