/**
 * A backup that shrinks is suspect: compared with the previous complete backup (tables, rows,
 * bytes), a drop beyond the threshold marks it in the manifest and in dr list, warns, and
 * `--backup latest` skips it (`latest-any` takes it).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shrinkage } from '../../core/backup/suspect.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { runDr } from '../support/cli.ts';

const source = uniqueName('dr_susp_src');
const databases: string[] = [source];
let dir: string;

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-susp-'));
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe('suspect backups', () => {
  it('marks a backup that lost tables and most rows, warns, lists it, and latest skips it', async () => {
    const repo = `file://${dir}`;
    const good = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--json', '-q', '-j', '2']);
    expect(good.code, good.stderr).toBe(0);
    expect(good.json.suspect).toBeNull();
    // Something went wrong upstream: a table dropped, most candles gone.
    await withClient(source, (c) => c.query('DROP TABLE alerts; DELETE FROM candles WHERE symbol_id <> 1'));
    const bad = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--json', '-j', '2']);
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.json.suspect).toMatchObject({
      previous: good.json.id,
      reasons: expect.arrayContaining([
        '1 table gone (public.alerts)',
        expect.stringMatching(/^(rows|size) down \d+\.\d% \(\d+ → \d+( bytes)?\)$/),
      ]),
    });
    expect(bad.stderr).toMatch(/SUSPECT: backup \S+ shrank against \S+: 1 table gone/);
    const manifest = JSON.parse(await readFile(join(dir, 'backups', source, `${bad.json.id}.manifest.json`), 'utf8'));
    expect(manifest.suspect.previous).toBe(good.json.id);

    const list = await runDr(['list', '--repo', repo]);
    expect(list.stdout).toMatch(new RegExp(`^${bad.json.id} SUSPECT\\s+${source}`, 'm'));
    expect(list.stdout).toMatch(/^SUSPECT \S+: shrank against/m);

    const target = uniqueName('dr_susp_tgt');
    databases.push(target);
    const restored = await runDr(['restore', '--repo', repo, '--target', pgUrl(target), '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json).toMatchObject({ backup: { id: good.json.id } });
    expect(restored.json.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^skipped suspect backup ${bad.json.id}`))]),
    );

    const anyTarget = uniqueName('dr_susp_any');
    databases.push(anyTarget);
    const any = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(anyTarget),
      '--backup',
      'latest-any',
      '--json',
    ]);
    expect(any.code, any.stderr).toBe(0);
    expect(any.json).toMatchObject({ backup: { id: bad.json.id } });
  });

  it('the threshold: a small drop is not suspect, a lost table always is', () => {
    const t = (name: string) => ({ schema: 'public', name, kind: 'table' }) as never;
    const shape = (tables: string[], rows: number, bytes: number) => ({
      tables: tables.map(t),
      totals: { files: 1, rows, bytes },
    });
    expect(shrinkage(shape(['a', 'b'], 1000, 1000), shape(['a', 'b'], 600, 900))).toEqual([]);
    expect(shrinkage(shape(['a', 'b'], 1000, 1000), shape(['a', 'b'], 400, 900))).toEqual([
      'rows down 60.0% (1000 → 400)',
    ]);
    expect(shrinkage(shape(['a', 'b'], 1000, 1000), shape(['a'], 1000, 1000))).toEqual(['1 table gone (public.b)']);
  });
});
