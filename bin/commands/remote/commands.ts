/**
 * `dr remote restore` and `dr remote status`: restores run by the deployed restore state machine
 * (lib/constructs/workflows/restore-workflow.ts), started and watched from a terminal. The flags
 * build the same request the Step Functions console takes (core/restore/request.ts), validated here
 * with the same rules before anything starts (request.ts); the state machine validates it again
 * with the configured database list. The AWS clients are given to each command (client.ts).
 */
import { cjsExports } from '../../../core/interop.ts';
import type { RestoreRequest } from '../../../core/restore/request.ts';
import { COMMON, optionalString, required, usage } from '../args.ts';
import { type Command, defineCommand } from '../command.ts';
import {
  awsError,
  DEFAULT_STACK,
  describe,
  EXECUTION_ARN,
  type ExecutionView,
  entered,
  historySince,
  iso,
  RESTORE_OUTPUT,
  type RemoteClients,
  stateMachineArn,
  watch,
} from './client.ts';
import { humanExecution, humanStarted } from './format.ts';
import { executionName, requestFromFlags } from './request.ts';

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

export function remoteRestoreCommand(clients: RemoteClients): Command {
  return defineCommand({
    summary: 'Start a restore on the deployed restore state machine (--wait to follow it)',
    synopsis: 'remote restore --database NAME --target-database NAME [flags]',
    description: `Starts the deployed restore state machine with the request these flags describe (the same JSON the
Step Functions console takes; see the README). The target server is the database's configured one.`,
    flags: {
      ...COMMON,
      database: {
        type: 'string',
        arg: 'NAME',
        help: 'source database (a configured one; its backups are restored)',
      },
      'target-database': { type: 'string', arg: 'NAME', help: 'restore into this database on the same server' },
      backup: {
        type: 'string',
        default: 'latest',
        arg: 'ID',
        help: 'a backup id, or latest (default; falls back past a backup failing verification)',
      },
      tables: {
        type: 'string',
        arg: 'A,B',
        help: 'restore only these tables (table mode), replaced rows kept in safety tables',
      },
      since: {
        type: 'string',
        arg: 'TIME',
        help: 'with --tables and --until: only rows with since <= time < until (range mode),',
      },
      until: {
        type: 'string',
        arg: 'TIME',
        help: 'ISO 8601 with a zone (2026-01-10T00:00:00Z) or a date (UTC midnight)',
      },
      'time-column': {
        type: 'string',
        arg: 'COL',
        help: 'column the range applies to (default: the one the backup recorded)',
      },
      at: {
        type: 'string',
        arg: 'TIME',
        help: "point-in-time restore (mode pitr) from the stack's pgBackRest repository:\nthe database, or with --tables its tables, as they were at TIME (no --backup)",
      },
      overwrite: {
        type: 'boolean',
        default: false,
        help: 'needed when --target-database is the source database itself (production);\nin a full restore it also replaces a non-empty target',
      },
      confirm: {
        type: 'string',
        arg: 'NAME',
        help: 'with --overwrite, a whole-database restore into production: its name again',
      },
      wait: {
        type: 'boolean',
        default: false,
        help: 'follow the execution (states on stderr) and print the summary; exit 1 if it fails',
      },
      'poll-seconds': { type: 'string', arg: 'N', help: 'how often --wait polls (default 10)' },
      name: {
        type: 'string',
        arg: 'NAME',
        help: 'execution name (default: restore-<mode>-<database>-<UTC time>-<random>)',
      },
      'state-machine-arn': {
        type: 'string',
        arg: 'ARN',
        help: `the state machine (default: output ${RESTORE_OUTPUT} of --stack)`,
      },
      stack: {
        type: 'string',
        default: DEFAULT_STACK,
        arg: 'NAME',
        help: `the deployed stack (default ${DEFAULT_STACK})`,
      },
      region: { type: 'string', arg: 'REGION', help: "AWS region (default: the AWS environment's)" },
    },
    async run(v, io): Promise<RemoteRestoreResult> {
      const request = requestFromFlags(v);
      const pollRaw = optionalString(v, 'poll-seconds') ?? '10';
      const poll = Number(pollRaw);
      if (!Number.isFinite(poll) || poll < 1) throw usage(`--poll-seconds must be a number ≥ 1, got "${pollRaw}"`);
      const name = optionalString(v, 'name') ?? executionName(request);
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
        throw usage(`--name "${name}" is not a valid execution name; use 1-80 letters, digits, - and _`);
      const arn = await stateMachineArn(v, clients, io);
      // The state machine's own region (ARN field 4), unless --region says otherwise.
      const sfn = await clients.sfn(optionalString(v, 'region') ?? arn.split(':')[3]);
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
    human: (r) => (r.execution ? humanExecution(r.execution) : humanStarted(r)),
    exitCode: (r) => (failed(r.execution?.status) ? 1 : 0),
  });
}

export function remoteStatusCommand(clients: RemoteClients): Command {
  return defineCommand({
    summary: 'Show one restore execution: status, states entered, summary or failure reason',
    synopsis: 'remote status <executionArn> [--region REGION] [--json]',
    flags: {
      ...COMMON,
      execution: {
        type: 'string',
        arg: 'ARN',
        help: 'the ARN dr remote restore printed (or <executionArn> as the argument)',
      },
      region: { type: 'string', arg: 'REGION', help: "default: the ARN's region" },
    },
    notes:
      'Exit status 0 when the execution succeeded or is still running, 1 when it failed, timed out or was aborted.',
    positional: 'execution',
    async run(v): Promise<ExecutionView> {
      const arn = required(v, 'execution');
      const match = EXECUTION_ARN.exec(arn);
      if (!match)
        throw usage(
          `"${arn}" is not an execution ARN; use the one dr remote restore printed (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
        );
      const sfn = await clients.sfn(optionalString(v, 'region') ?? match[1]);
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
    human: (r) => humanExecution(r),
    exitCode: (r) => (failed(r.status) ? 1 : 0),
  });
}
