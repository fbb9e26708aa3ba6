/** Reading pg_restore --list output: which TABLE DATA entries belong to a table. */
import { describe, expect, it } from 'vitest';
import { DrError } from '../../../core/errors.ts';
import { dataEntries, parseTocList } from '../../../core/restore/toc.ts';

const toc = parseTocList(`;
; Archive created at 2026-11-25 02:00:00 UTC
;
3401; 0 16390 TABLE DATA public candles_2026_01 root
3402; 0 16395 TABLE DATA public candles_2026_02 root
3403; 0 16400 TABLE DATA public alerts root
3404; 0 16410 TABLE DATA public candles x root
3405; 0 16405 SEQUENCE SET public alerts_id_seq root
`);
const family = (name: string, sequences: string[] = []) => ({
  members: [{ schema: 'public', name }],
  indexes: [],
  sequences: sequences.map((s) => ({ schema: 'public', name: s })),
});

describe('dataEntries', () => {
  it('picks the data entries of the table and its sequences by exact name', () => {
    expect(dataEntries(toc, family('alerts', ['alerts_id_seq'])).map((e) => e.dumpId)).toEqual([3403, 3405]);
    expect(
      dataEntries(toc, {
        ...family('candles_2026_01'),
        members: [
          { schema: 'public', name: 'candles_2026_01' },
          { schema: 'public', name: 'candles_2026_02' },
        ],
      }).map((e) => e.dumpId),
    ).toEqual([3401, 3402]);
  });

  it("refuses a name that a table with a space in its name makes ambiguous, rather than loading that table's rows", () => {
    const toc2 = [...toc, ...parseTocList('3406; 0 16420 TABLE DATA public candles root\n')];
    const err = (() => {
      try {
        dataEntries(toc2, family('candles'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).oneLine()).toMatch(
      /^the backup's table of contents has 2 data entries that may belong to public\.candles \("public candles x root", "public candles root"\); .*restore the whole database/,
    );
  });
});
