import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DumpFileClosings,
  DumpStopped,
  readGrowingFile,
  STARTED_TABLE_LINE,
} from '../../../core/backup/growing-file.ts';
import { runTool } from '../../../core/pg/connection.ts';
import { readToc, type TocEntry, tableDataEntryNamed } from '../../../core/restore/toc.ts';
import { createDatabase, dropDatabase, withClient } from '../../../fixtures/pg.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a data file read while it is written', () => {
  it('yields every byte a writer appends until it is closed, including those written just before', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'dr-growing-')), '1.dat');
    await writeFile(path, '');
    const closings = new DumpFileClosings();
    const reading = buffer(readGrowingFile(path, closings.closing(1), 4096));
    const written: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const piece = Buffer.from(`${i}\t${'x'.repeat(i * 97)}\n`);
      written.push(piece);
      await appendFile(path, piece);
      if (i % 7 === 0) await sleep(30);
    }
    const last = Buffer.from('the last line, written right before the close\n');
    written.push(last);
    await appendFile(path, last);
    closings.finished(1, 'candles');
    expect(sha(await reading)).toBe(sha(Buffer.concat(written)));
    expect(closings.tagOf(1)).toBe('candles');
    expect(closings.isDone(1)).toBe(true);
  });

  it('fails with DumpStopped when pg_dump ends without closing it, and a later file of a dump that succeeded is complete', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dr-growing-'));
    await writeFile(join(dir, '1.dat'), 'partial');
    const failed = new DumpFileClosings();
    const reading = buffer(readGrowingFile(join(dir, '1.dat'), failed.closing(1), 4096));
    await sleep(50);
    failed.end(false);
    failed.end(true); // the first end counts
    await expect(reading).rejects.toBeInstanceOf(DumpStopped);
    await expect(failed.closing(2)).rejects.toBeInstanceOf(DumpStopped);

    const succeeded = new DumpFileClosings();
    const pending = succeeded.closing(3);
    succeeded.end(true);
    await expect(pending).resolves.toBeUndefined();
    await expect(succeeded.closing(4)).resolves.toBeUndefined();
  });
});

describe('a single-job pg_dump (real), which prints no "finished item" lines', () => {
  const database = 'dr_test_single_job_dump';
  afterAll(() => dropDatabase(database));

  it('closes each data file when pg_dump starts the next table, complete at that moment, and the last at the end', async () => {
    await dropDatabase(database);
    const url = await createDatabase(database);
    await withClient(database, (c) =>
      c.query(`
        CREATE TABLE big AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 60000) g;
        CREATE TABLE "odd.name" AS SELECT g FROM generate_series(1, 5000) g;
        CREATE SCHEMA "also.odd";
        CREATE TABLE "also.odd".small AS SELECT 1 AS one;
        CREATE TABLE empty (x int);`),
    );
    const dir = join(await mkdtemp(join(tmpdir(), 'dr-single-job-')), 'dump');
    const closings = new DumpFileClosings();
    let toc: Promise<TocEntry[]> | undefined;
    const sizeAtClose = new Map<number, number>();
    const started: string[] = [];
    const dumpIdOf = async (table: string) => {
      toc ??= readToc({}, dir);
      const id = tableDataEntryNamed(await toc, table)?.dumpId;
      if (id !== undefined)
        void closings.closing(id).then(() => sizeAtClose.set(id, statSync(join(dir, `${id}.dat`)).size));
      return id;
    };
    const result = await runTool({}, 'pg_dump', ['-Fd', '-j1', '-Z0', '--verbose', `--file=${dir}`, url], {
      onStderrLine: (line) => {
        const m = STARTED_TABLE_LINE.exec(line);
        if (m) {
          started.push(m[1]!);
          closings.started(m[1]!, dumpIdOf);
        }
      },
    });
    expect(result.code).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(started).toHaveLength(4);
    const entries = await readToc({}, dir);
    const ids = started.map((t) => tableDataEntryNamed(entries, t)!.dumpId);
    // Every table but the last was closed while pg_dump ran, at its final size.
    for (const id of ids.slice(0, -1)) {
      expect(closings.isDone(id)).toBe(true);
      expect(sizeAtClose.get(id)).toBe(statSync(join(dir, `${id}.dat`)).size);
    }
    expect(closings.isDone(ids.at(-1)!)).toBe(false);
    closings.end(true);
    expect(closings.isDone(ids.at(-1)!)).toBe(true);
  });
});
