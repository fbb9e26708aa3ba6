/**
 * The row hasher itself, on COPY text built here: its buckets must not depend on how rows are
 * ordered or how the text is cut into chunks (pg_dump's file, an upload stream, a COPY TO STDOUT
 * cut it differently), and rows of different days must land in their own buckets however they
 * interleave. Both sides of a verify use the same hasher, so only this test catches such a bug.
 */
import { describe, expect, it } from 'vitest';
import { type Buckets, RowHasher } from '../../../core/backup/fingerprint.ts';

const rows = [
  '1\t2026-01-10 00:00:00+00\t1.5',
  '2\t2026-01-11 23:59:59.999999+00\t2',
  '3\t2026-01-10 12:00:00+00\t\\N',
  '4\t\\N\t3',
  '5\tinfinity\t4',
  '6\t2026-01-11 01:00:00+00\tx',
  `7\t2026-01-10 01:00:00+00\tlong ${'y'.repeat(5000)}`,
];

function hash(lines: string[], chunk: number, timeField: number | null = 1): Buckets {
  const text = Buffer.from(`${lines.join('\n')}\n\\.\n`);
  const h = new RowHasher(timeField);
  for (let o = 0; o < text.length; o += chunk) h.write(text.subarray(o, o + chunk));
  return h.end();
}

describe('RowHasher', () => {
  it('still computes murmur3x2-sum/v1 as manifests already hold it (values from the first implementation)', () => {
    // Rows of 0–3 bytes past a 4-byte block and one of several blocks: every path of the hash.
    const text = [
      'The quick brown fox jumps over the lazy dog\t2026-01-10 10:00:00+00',
      '1\t2026-01-10 11:00:00+00\tx',
      '22\t2026-01-11 00:00:00+00\tabc',
      '333\t\\N\tabcd',
    ];
    for (const chunk of [1, 5, 1 << 20])
      expect(hash(text, chunk)).toEqual({
        '2026-01-10': [2, 4072252639, 3490585257],
        '2026-01-11': [1, 264241383, 1956275673],
        null: [1, 1880237658, 2417213163],
      });
  });

  it('gives the same buckets whatever the row order and chunk sizes', () => {
    const expected = hash(rows, 1 << 20);
    expect(Object.keys(expected).sort()).toEqual(['2026-01-10', '2026-01-11', 'infinity', 'null'].sort());
    expect(expected['2026-01-10']![0]).toBe(3);
    expect(expected['2026-01-11']![0]).toBe(2);
    for (const chunk of [1, 3, 7, 64, 4096]) expect(hash(rows, chunk)).toEqual(expected);
    expect(hash([...rows].reverse(), 5)).toEqual(expected);
  });

  it("puts each day's rows in its own bucket when days interleave, as when they come one after another", () => {
    const [day1, day2] = ['2026-01-10', '2026-01-11'].map((d) => rows.filter((r) => r.includes(d))) as [
      string[],
      string[],
    ];
    const interleaved = [day1[0]!, day2[0]!, day1[1]!, day2[1]!, day1[2]!];
    const sorted = [...day1, ...day2];
    expect(hash(interleaved, 11)).toEqual(hash(sorted, 11));
    // Each day alone hashes to what the mixed input holds for it.
    expect(hash(day1, 11)['2026-01-10']).toEqual(hash(interleaved, 11)['2026-01-10']);
  });

  it('changes the bucket of a changed row only', () => {
    const changed = rows.map((r) => (r.startsWith('2\t') ? r.replace('\t2', '\t3') : r));
    const a = hash(rows, 64);
    const b = hash(changed, 64);
    expect(b['2026-01-11']).not.toEqual(a['2026-01-11']);
    expect(b['2026-01-10']).toEqual(a['2026-01-10']);
  });
});
