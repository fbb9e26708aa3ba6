/**
 * The job's result record (core/job-result.ts): the job process writes its `--json` result to the
 * repository under results/<command>s/<execution-name>.json, and readJobResult reads it back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobEnv, secretEnvVarFor } from '../../core/contract.ts';
import { jobResultKey, lastJsonObject, readJobResult, writeJobResult } from '../../core/job-result.ts';
import { openRepository } from '../../core/repository/index.ts';
import { PG_HOST, PG_PORT, PG_USER, uniqueName } from '../../fixtures/pg.ts';
import { runJobProcess } from '../lib/constructs/local-job.ts';

describe('job result records', () => {
  let dir: string;
  let url: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dr-job-result-'));
    url = `file://${dir}`;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const jobEnv = (database: string, extra: Record<string, string>) => ({
    [JobEnv.repo]: url,
    [JobEnv.command]: 'restore',
    [JobEnv.database]: database,
    [JobEnv.dbHost]: PG_HOST,
    [JobEnv.dbPort]: String(PG_PORT),
    [JobEnv.secretEnv]: secretEnvVarFor(database),
    [secretEnvVarFor(database)]: JSON.stringify({ username: PG_USER, password: '' }),
    [JobEnv.sslMode]: 'disable',
    ...extra,
  });

  it('keys results by command and execution name, refusing names Step Functions would not give', () => {
    expect(jobResultKey('restore', 'manual-2026_01')).toBe('results/restores/manual-2026_01.json');
    expect(() => jobResultKey('restore', '../backups/x')).toThrow('is not a Step Functions execution name');
    expect(() => jobResultKey('restore', 'a'.repeat(81))).toThrow('is not a Step Functions execution name');
  });

  it('round-trips a record; a missing one reads as undefined', async () => {
    const repo = openRepository(url);
    const key = jobResultKey('restore', uniqueName('rt'));
    expect(await readJobResult(repo, key)).toBeUndefined();
    const record = {
      command: 'restore',
      exitCode: 0,
      finishedAt: '2026-01-12T00:00:00.000Z',
      result: { ok: true, rows: 3 },
    };
    await writeJobResult(repo, key, record);
    expect(await readJobResult(repo, key)).toEqual(record);
  });

  it('lastJsonObject takes the last stdout line only when it is a JSON object', () => {
    expect(lastJsonObject('progress\n{"ok":true}\n')).toEqual({ ok: true });
    expect(lastJsonObject('{"ok":true}\nrestored\n')).toBeNull();
    expect(lastJsonObject('[1]')).toBeNull();
    expect(lastJsonObject('')).toBeNull();
  });

  it('the job records a failed dr command with its error and hint, and keeps its exit code', async () => {
    const name = uniqueName('exec');
    const run = await runJobProcess(jobEnv(uniqueName('nodb'), { [JobEnv.resultName]: name }));
    expect(run.exitCode).toBe(1);
    const record = await readJobResult(openRepository(url), jobResultKey('restore', name));
    expect(record).toMatchObject({
      command: 'restore',
      exitCode: 1,
      result: { ok: false, error: expect.any(String), hint: expect.anything() },
    });
    // The recorded result is the very line dr printed.
    expect(record!.result).toEqual(run.result);
    expect(run.stderr).toContain(`result recorded at results/restores/${name}.json`);
  });

  it('the job records an invocation error (a flag the job does not allow), exit 2', async () => {
    const name = uniqueName('exec');
    const run = await runJobProcess(
      jobEnv('crypto_stock', { [JobEnv.resultName]: name, [JobEnv.args]: '["--repo","s3://elsewhere/"]' }),
    );
    expect(run.exitCode).toBe(2);
    expect(await readJobResult(openRepository(url), jobResultKey('restore', name))).toMatchObject({
      exitCode: 2,
      result: { ok: false, error: "flag --repo is not allowed for the job's restore command" },
    });
  });

  it('without DR_RESULT_NAME nothing is recorded; a bad name is reported and the exit code stays', async () => {
    const repo = openRepository(url);
    const before = await repo.list('results/');
    const run = await runJobProcess(jobEnv(uniqueName('nodb'), {}));
    expect(run.exitCode).toBe(1);
    const bad = await runJobProcess(jobEnv(uniqueName('nodb'), { [JobEnv.resultName]: 'not/valid' }));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('could not record the result ("not/valid" is not a Step Functions execution name');
    expect(await repo.list('results/')).toEqual(before);
  });
});
