/**
 * Mode "pitr" through the restore state machine: the validate Lambda turns a pitr request into the
 * job's DR_ARGS (--at ...), and the run-task state cannot override the PITR repository or stanza,
 * which only the task definition sets.
 */
import { describe, expect, it } from 'vitest';
import { JobEnv, RestoreEnv } from '../../../core/contract.ts';
import { createHandler } from '../../../lambdas/validate-restore/handler.ts';
import { RestoreWorkflow } from '../../../lib/constructs/workflows/restore-workflow.ts';
import { definitionOf } from './definition.ts';
import { restoreStack } from './restore-stack.ts';

const databasesEnv = {
  [RestoreEnv.databases]: JSON.stringify([
    { name: 'crypto_stock', host: 'db.internal', port: '5432', secretEnv: 'DR_SECRET_CRYPTO_STOCK' },
  ]),
};

describe('restore workflow, mode pitr', () => {
  it('is refused before any task runs on a deployment without WAL archiving', async () => {
    const validate = createHandler({ env: { ...databasesEnv, [RestoreEnv.pointInTimeRecovery]: 'false' } });
    await expect(
      validate({
        request: {
          database: 'crypto_stock',
          mode: 'pitr',
          at: '2026-01-15T14:30:00Z',
          target: { database: 'crypto_stock_at_1430' },
        },
      }),
    ).rejects.toThrow(
      'mode: "pitr" needs WAL archiving, which this deployment does not have (config pitr.enabled is false)',
    );
    // The stack tells the validator which it is.
    const pitrFlag = (withPitr: boolean) => {
      const fn = Object.values(
        restoreStack({ workflow: { pointInTimeRecovery: withPitr } }).template.findResources('AWS::Lambda::Function'),
      ).find((f: any) => f.Properties.Environment?.Variables?.[RestoreEnv.databases]) as any;
      return fn.Properties.Environment.Variables[RestoreEnv.pointInTimeRecovery];
    };
    expect([pitrFlag(true), pitrFlag(false)]).toEqual(['true', 'false']);
  });

  it('the validate step yields DR_ARGS with --at (and tables/range), never --backup, --pitr or --stanza', async () => {
    const validate = createHandler({ env: { ...databasesEnv, [RestoreEnv.pointInTimeRecovery]: 'true' } });
    const result = await validate({
      request: {
        database: 'crypto_stock',
        mode: 'pitr',
        at: '2026-01-15T14:30:00Z',
        tables: ['candles'],
        since: '2026-01-01',
        until: '2026-01-15',
        target: { database: 'crypto_stock_at_1430' },
      },
    });
    expect(result.job).toEqual({
      database: 'crypto_stock',
      targetDatabase: 'crypto_stock_at_1430',
      args: JSON.stringify([
        '--at',
        '2026-01-15T14:30:00Z',
        '--tables',
        'candles',
        '--since',
        '2026-01-01T00:00:00Z',
        '--until',
        '2026-01-15T00:00:00Z',
      ]),
      host: 'db.internal',
      port: '5432',
      secretEnv: 'DR_SECRET_CRYPTO_STOCK',
    });
    await expect(
      validate({ request: { database: 'crypto_stock', mode: 'pitr', target: { database: 'x' } } }),
    ).rejects.toThrow('at: required for mode "pitr"');
  });

  it('the run-task state passes DR_ARGS from the validate step and no PITR repository or stanza override', () => {
    const states = definitionOf(restoreStack().template, 'RestoreWorkflow').States as Record<string, any>;
    const env = states[RestoreWorkflow.RUN_TASK_STATE].Parameters.Overrides.ContainerOverrides[0].Environment as {
      Name: string;
      'Value.$'?: string;
    }[];
    expect(env.find((e) => e.Name === JobEnv.args)?.['Value.$']).toBe('$.job.args');
    expect(env.map((e) => e.Name)).not.toContain(JobEnv.pitrRepo);
    expect(env.map((e) => e.Name)).not.toContain(JobEnv.pitrStanza);
  });
});
