/**
 * The drill cleanup handler against the real PostgreSQL server; only Secrets Manager
 * GetSecretValue is mocked (no local Secrets Manager).
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DrillCleanupEnv } from '../../core/contract.ts';
import { MAX_DRILLED_NAME, scratchDatabaseName } from '../../core/drill/scratch.ts';
import {
  createDatabase,
  databaseExists,
  dropDatabase,
  PG_HOST,
  PG_PORT,
  PG_USER,
  pgUrl,
  uniqueName,
} from '../../fixtures/pg.ts';
import { createHandler } from '../../lambdas/drill-cleanup/handler.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:staging-AbCdEf';
const secretReads: string[] = [];
const handler = createHandler({
  env: { [DrillCleanupEnv.secretArn]: SECRET_ARN, [DrillCleanupEnv.sslMode]: 'disable' },
  async getSecret(arn) {
    secretReads.push(arn);
    return JSON.stringify({ username: PG_USER, password: '', host: PG_HOST, port: PG_PORT });
  },
});

describe('drill-cleanup Lambda (real PostgreSQL; mocked Secrets Manager GetSecretValue)', () => {
  const keep = uniqueName('not_a_drill');
  afterAll(() => dropDatabase(keep));

  it('drops a scratch database, also while a session is connected to it', async () => {
    const name = uniqueName('drill_cleanup');
    await createDatabase(name);
    const session = new pg.Client({ connectionString: pgUrl(name) });
    session.on('error', () => {});
    await session.connect();
    try {
      expect(await handler({ database: name })).toEqual({ database: name, dropped: true, existed: true });
    } finally {
      await session.end().catch(() => {});
    }
    expect(await databaseExists(name)).toBe(false);
    expect(secretReads).toContain(SECRET_ARN);
  });

  it('succeeds when the scratch database does not exist (the restore failed before creating it)', async () => {
    const name = uniqueName('drill_never');
    expect(await handler({ database: name, host: PG_HOST, port: String(PG_PORT) })).toEqual({
      database: name,
      dropped: true,
      existed: false,
    });
  });

  it.each(['crypto_stock', 'postgres', 'drill_', 'drill_x"; DROP DATABASE postgres; --', `drill_${'x'.repeat(60)}`])(
    'refuses to drop %j, before reading any secret',
    async (name) => {
      const reads = secretReads.length;
      await expect(handler({ database: name })).rejects.toThrow(/not a drill scratch database/);
      expect(secretReads).toHaveLength(reads);
    },
  );

  it('sweepBefore (a drill that timed out or was aborted): drops every drill_*_<yyyymmdd> of that UTC day or older, keeps later ones', async () => {
    // Days long past, so the sweep cannot reach another test's scratch databases of today.
    const base = uniqueName('drill_sweep');
    const [older, sameDay, later] = ['19981231', '19990101', '19990102'].map((day) => `${base}_${day}`) as [
      string,
      string,
      string,
    ];
    for (const name of [older, sameDay, later]) await createDatabase(name);
    try {
      const result = (await handler({ sweepBefore: Date.parse('1999-01-01T23:00:00Z') })) as { dropped: string[] };
      expect(result.dropped).toEqual(expect.arrayContaining([older, sameDay]));
      expect(result.dropped).not.toContain(later);
      expect(await databaseExists(older)).toBe(false);
      expect(await databaseExists(sameDay)).toBe(false);
      expect(await databaseExists(later)).toBe(true);
    } finally {
      await dropDatabase(later);
    }
    await expect(handler({ database: 'drill_x_19990101', sweepBefore: 1 })).rejects.toThrow(
      'exactly one of database and sweepBefore',
    );
  });

  it('leaves a database not named drill_* in place', async () => {
    await createDatabase(keep);
    await expect(handler({ database: keep })).rejects.toThrow(`refusing to drop "${keep}"`);
    expect(await databaseExists(keep)).toBe(true);
  });

  it('rejects an event with unknown fields', async () => {
    await expect(handler({ database: 'drill_a_20250105', force: true })).rejects.toThrow(
      /drill cleanup event is invalid/,
    );
  });

  it('drops every name core/drill/run.ts gives a drilled database of up to MAX_DRILLED_NAME characters', async () => {
    const name = scratchDatabaseName('x'.repeat(MAX_DRILLED_NAME), new Date('2025-01-05T03:00:00Z'));
    expect(name).toBe(`drill_${'x'.repeat(MAX_DRILLED_NAME)}_20250105`);
    expect(await handler({ database: name })).toEqual({ database: name, dropped: true, existed: false });
  });
});
