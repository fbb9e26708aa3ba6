import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DumpFileClosings, DumpStopped, readGrowingFile } from '../../../core/backup/growing-file.ts';

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
