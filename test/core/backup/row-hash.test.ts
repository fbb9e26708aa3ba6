/**
 * row-hash.wat against the TypeScript reference it replaces on whole rows: the committed bytes are
 * the compile of the source, and on rows built to reach every branch (no time field, `\N`, a
 * missing field, BC, infinity, a year past 9999, empty rows, 0–3 bytes past a 4-byte block, rows
 * longer than one call's input, `\.` before the end) in every chunking, both give the same buckets.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Buckets, RowHasher } from '../../../core/backup/fingerprint.ts';
import { compiledRowHashModule } from '../../../scripts/build-wasm.mjs';

/** A deterministic generator (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const TIMES = [
  '2026-01-10 00:00:00+00',
  '2026-01-10 23:59:59.999999+00',
  '2026-01-10 23:59:59.999998+00',
  '2026-01-10 23:59:59.99+00',
  '2026-01-10 23:59:59+00',
  '2026-01-10 23:59:59',
  '2026-01-11',
  '2026-01-11 01:02:03',
  '\\N',
  '',
  'infinity',
  '-infinity',
  '0044-03-15 00:00:00+00 BC',
  '12026-01-01 00:00:00+00',
  '2026-1-01',
  '2026-01-1x',
];

function rowsOf(seed: number, count: number): string[] {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  return Array.from({ length: count }, () => {
    const fields = Math.floor(next() * 4);
    const parts = Array.from({ length: fields }, () => 'x'.repeat(Math.floor(next() * 7)));
    // The time field is the second; some rows end before it.
    if (fields >= 1) parts.splice(1, 0, pick(TIMES));
    return parts.join('\t');
  });
}

function hashed(text: Buffer, chunk: number, timeField: number | null, wasm: boolean) {
  const h = new RowHasher(timeField, wasm);
  for (let o = 0; o < text.length; o += chunk) h.write(text.subarray(o, o + chunk));
  const buckets = h.end();
  return { buckets, newest: h.newest() };
}

const hash = (text: Buffer, chunk: number, timeField: number | null, wasm: boolean): Buckets =>
  hashed(text, chunk, timeField, wasm).buckets;

describe('row-hash.wat', () => {
  it('is committed as the compile of its source (run npm run build:wasm after editing it)', async () => {
    const committed = readFileSync(new URL('../../../core/backup/row-hash-wasm.ts', import.meta.url), 'utf8');
    expect(committed).toBe(await compiledRowHashModule());
  });

  it('gives the buckets and the newest time of the TypeScript reference, whatever the rows and the chunking', () => {
    for (const seed of [1, 2, 3]) {
      const text = Buffer.from(`${rowsOf(seed, 3000).join('\n')}\n`);
      for (const timeField of [1, 0, 3, null]) {
        const expected = hashed(text, 1 << 20, timeField, false);
        for (const chunk of [1, 13, 4096, 1 << 20]) expect(hashed(text, chunk, timeField, true)).toEqual(expected);
      }
    }
  });

  it('keeps the newest time as max()::text orders it, and says when the text cannot tell', () => {
    const newest = (times: string[], wasm: boolean) =>
      hashed(Buffer.from(times.map((t, i) => `${i}\t${t}\n`).join('')), 1 << 20, 1, wasm).newest;
    const cases: [string[], string | null | undefined][] = [
      [['2026-01-10 00:00:00+00', '2026-01-11 00:00:00+00', '2026-01-10 23:00:00+00'], '2026-01-11 00:00:00+00'],
      // A fraction is later than the whole second, and .5 later than .25.
      [['2026-01-10 00:00:01+00', '2026-01-10 00:00:01.25+00', '2026-01-10 00:00:01.5+00'], '2026-01-10 00:00:01.5+00'],
      [['2026-01-10 00:00:01.5+00', '2026-01-10 00:00:01+00'], '2026-01-10 00:00:01.5+00'],
      [['2026-01-10 00:00:01', '2026-01-10 00:00:00.999999'], '2026-01-10 00:00:01'],
      // Differences past the first 8-byte blocks, and a text equal to the newest so far.
      [
        ['2026-01-10 00:00:00.123456+00', '2026-01-10 00:00:00.123457+00', '2026-01-10 00:00:00.123456+00'],
        '2026-01-10 00:00:00.123457+00',
      ],
      [['2026-01-10 00:00:00.5', '2026-01-10 00:00:00.5', '2026-01-10 00:00:00'], '2026-01-10 00:00:00.5'],
      [['\\N', '\\N'], null],
      [['2026-01-10', 'infinity'], undefined],
      // BC orders backwards: after a later AD day it cannot be the newest; before one, it stops the tracking.
      [['2026-01-10', '0044-03-15 00:00:00+00 BC'], '2026-01-10'],
      [['0010-03-15 BC', '0044-03-15 BC'], undefined],
      [[`2026-01-10 ${'9'.repeat(60)}`], undefined],
    ];
    for (const [times, expected] of cases) {
      expect(newest(times, true), times.join(', ')).toBe(expected);
      expect(newest(times, false), times.join(', ')).toBe(expected);
    }
  });

  it('hashes rows longer than one call takes, and rows that fill it exactly, as the reference does', () => {
    const long = [
      `1\t2026-01-10 00:00:00+00\t${'a'.repeat(300_000)}`,
      '2\t2026-01-10 00:00:01+00',
      `3\t2026-01-11 00:00:00+00\t${'b'.repeat(262_144 - 26)}`,
      `4\t2026-01-11 00:00:00+00\t${'c'.repeat(262_144 - 25)}`,
      ...rowsOf(4, 100),
    ];
    const text = Buffer.from(`${long.join('\n')}\n`);
    const expected = hash(text, 1 << 20, 1, false);
    expect(expected['2026-01-10']![0]).toBeGreaterThanOrEqual(2);
    for (const chunk of [1 << 20, 65_536, 700_000]) expect(hash(text, chunk, 1, true)).toEqual(expected);
  });

  it('stops at pg_dump\'s end line "\\." and reads nothing after it', () => {
    const text = Buffer.from(`1\t2026-01-10\n\\.\n2\t2026-01-11\n`);
    for (const chunk of [1, 2, 1 << 20]) {
      const buckets = hash(text, chunk, 1, true);
      expect(buckets).toEqual(hash(text, chunk, 1, false));
      expect(Object.keys(buckets)).toEqual(['2026-01-10']);
    }
  });
});
