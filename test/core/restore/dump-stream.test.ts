/**
 * The parser of pg_restore's data script (core/restore/dump-stream.ts): COPY headers as pg_dump writes
 * them, and COPY blocks cut exactly at their `\.` line whatever the chunk boundaries.
 */
import { describe, expect, it } from 'vitest';
import { parseCopyHeader, ScriptReader } from '../../../core/restore/dump-stream.ts';

/** Feeds `text` in chunks of `size` bytes. */
async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Reads a script as [statement lines, COPY blocks' data]. */
async function readAll(text: string, size: number): Promise<(string | { rows: string })[]> {
  const reader = new ScriptReader(chunks(text, size));
  const out: (string | { rows: string })[] = [];
  for (let line = await reader.line(); line !== null; line = await reader.line()) {
    out.push(line);
    if (parseCopyHeader(line)) {
      const parts: Buffer[] = [];
      for await (const part of reader.copyData()) {
        expect(part.at(-1)).toBe(0x0a);
        parts.push(part);
      }
      out.push({ rows: Buffer.concat(parts).toString() });
    }
  }
  return out;
}

describe('pg_restore data script', () => {
  it('parses COPY headers, quoted names and columns included', () => {
    expect(parseCopyHeader('COPY public.candles_2025_09 (symbol_id, "time", open) FROM stdin;')).toEqual({
      schema: 'public',
      name: 'candles_2025_09',
      columns: ['symbol_id', 'time', 'open'],
    });
    expect(parseCopyHeader('COPY "Reporting"."Daily ""Summary"", (x)" ("Day", "a, b") FROM stdin;')).toEqual({
      schema: 'Reporting',
      name: 'Daily "Summary", (x)',
      columns: ['Day', 'a, b'],
    });
    expect(parseCopyHeader('COPY public.empty  FROM stdin;')).toEqual({ schema: 'public', name: 'empty', columns: [] });
    expect(parseCopyHeader("SET client_encoding = 'UTF8';")).toBeNull();
    expect(parseCopyHeader('COPY public.t (a) TO stdout;')).toBeNull();
  });

  it('cuts each COPY block exactly at its \\. line, whatever the chunk size', async () => {
    const script = [
      'SET statement_timeout = 0;',
      '',
      'COPY public.a (x, y) FROM stdin;',
      '1\t\\\\.',
      '2\tline\\nbreak \\\\. end',
      '\\.',
      '',
      'COPY public.empty (x) FROM stdin;',
      '\\.',
      'COPY public.b (x) FROM stdin;',
      '\\\\.',
      '\\.',
      '',
      '-- done',
      '',
    ].join('\n');
    const expected = [
      'SET statement_timeout = 0;',
      '',
      'COPY public.a (x, y) FROM stdin;',
      { rows: '1\t\\\\.\n2\tline\\nbreak \\\\. end\n' },
      '',
      'COPY public.empty (x) FROM stdin;',
      { rows: '' },
      'COPY public.b (x) FROM stdin;',
      { rows: '\\\\.\n' },
      '',
      '-- done',
    ];
    for (const size of [1, 2, 3, 4, 5, 7, 16, 1000])
      expect(await readAll(script, size), `chunks of ${size}`).toEqual(expected);
  });

  it('refuses COPY data that ends without its \\. line', async () => {
    await expect(readAll('COPY public.a (x) FROM stdin;\n1\n2\n', 4)).rejects.toThrow(/ended without its \\\. line/);
  });
});
