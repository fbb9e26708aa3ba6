/**
 * A pg_dump directory archive's table of contents, as `pg_restore -l` lists it from `toc.dat`
 * alone (no data file needed). Used to pick the few entries a table restore needs and write
 * them to a `pg_restore -L` list.
 */

import { DrError } from '../errors.ts';
import { type PgTools, runTool } from '../pg/connection.ts';

export interface TocEntry {
  /** The dump id: the data of a TABLE DATA entry is in `<dumpId>.dat[.gz|.zst|.lz4]`. */
  readonly dumpId: number;
  /** e.g. `TABLE`, `TABLE DATA`, `FK CONSTRAINT`, `INDEX ATTACH`. */
  readonly desc: string;
  /** Schema, tag and owner as listed: `public candles_2025_08 root`. Parsed against known names, as spaces are not escaped. */
  readonly rest: string;
  /** The line as pg_restore printed it, for `-L`. */
  readonly line: string;
}

/** Entry types pg_restore prints; longest first, so `TABLE DATA` wins over `TABLE`. */
const DESCS = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'FK CONSTRAINT',
  'INDEX ATTACH',
  'TABLE ATTACH',
  'SEQUENCE SET',
  'ROW SECURITY',
  'TABLE DATA',
  'CONSTRAINT',
  'SEQUENCE',
  'TRIGGER',
  'DEFAULT',
  'COMMENT',
  'POLICY',
  'INDEX',
  'TABLE',
  'RULE',
  'ACL',
].sort((a, b) => b.length - a.length);

export function parseTocList(text: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!m) continue;
    // Both groups are mandatory, so a match has them.
    const tail = m[2]!;
    const desc = DESCS.find((d) => tail.startsWith(`${d} `));
    // Other types (SCHEMA, TYPE, FUNCTION…) are never picked by name here.
    entries.push({
      dumpId: Number(m[1]),
      desc: desc ?? tail.split(' ')[0]!,
      rest: desc ? tail.slice(desc.length + 1) : tail,
      line,
    });
  }
  return entries;
}

export async function readToc(tools: PgTools, dumpDir: string): Promise<TocEntry[]> {
  const result = await runTool(tools, 'pg_restore', ['--list', dumpDir]);
  if (result.code !== 0)
    throw new DrError(
      `pg_restore --list failed: ${result.stderr.trim().split('\n')[0]}`,
      'check the PostgreSQL client tools',
    );
  return parseTocList(result.stdout);
}

/** `schema tag owner` where tag is exactly `tag` (owner follows after one space, or nothing does). */
function tagIs(entry: TocEntry, schema: string, tag: string): boolean {
  const head = `${schema} ${tag}`;
  return entry.rest === head || entry.rest.startsWith(`${head} `);
}

/** `schema <tag-prefix>…`, e.g. `public candles candles_pkey root` for prefix `candles `. */
function tagStartsWith(entry: TocEntry, schema: string, prefix: string): boolean {
  return entry.rest.startsWith(`${schema} ${prefix}`);
}

export interface TableFamily {
  /** The table and every partition/child (TimescaleDB chunks are inheritance children). */
  readonly members: readonly { readonly schema: string; readonly name: string }[];
  /** Indexes of the members (names in the members' schemas). */
  readonly indexes: readonly { readonly schema: string; readonly name: string }[];
  /** Sequences owned by the members (serial/identity). */
  readonly sequences: readonly { readonly schema: string; readonly name: string }[];
}

/**
 * The TABLE DATA entry of `qualified`, as pg_dump's "dumping contents of table "<schema>.<name>""
 * line prints it (unquoted, so a dot inside a name makes it ambiguous): undefined unless exactly
 * one entry matches.
 */
export function tableDataEntryNamed(toc: readonly TocEntry[], qualified: string): TocEntry | undefined {
  const heads: string[] = [];
  for (let dot = qualified.indexOf('.'); dot !== -1; dot = qualified.indexOf('.', dot + 1))
    heads.push(`${qualified.slice(0, dot)} ${qualified.slice(dot + 1)} `);
  const hits = toc.filter((e) => e.desc === 'TABLE DATA' && heads.some((h) => e.rest.startsWith(h)));
  return hits.length === 1 ? hits[0] : undefined;
}

/** The TABLE DATA entries of the members (the files a table restore downloads) and the SEQUENCE SET entries of their sequences. */
export function dataEntries(toc: readonly TocEntry[], family: TableFamily): TocEntry[] {
  // The TOC's `schema tag owner` is ambiguous when a name contains a space ("candles x" owned by
  // root reads like "candles" owned by "x root"): refuse rather than load another table's rows.
  for (const m of family.members) {
    const matches = toc.filter((e) => e.desc === 'TABLE DATA' && tagIs(e, m.schema, m.name));
    if (matches.length > 1) {
      throw new DrError(
        `the backup's table of contents has ${matches.length} data entries that may belong to ${m.schema}.${m.name} (${matches.map((e) => `"${e.rest}"`).join(', ')})`,
        'a table name with a space makes them ambiguous; restore the whole database (dr restore without --tables) into another database and copy the table from there',
      );
    }
  }
  return toc.filter(
    (e) =>
      (e.desc === 'TABLE DATA' && family.members.some((m) => tagIs(e, m.schema, m.name))) ||
      (e.desc === 'SEQUENCE SET' && family.sequences.some((s) => tagIs(e, s.schema, s.name))),
  );
}

/**
 * The definition of a table family, as two `pg_restore -L` selections: `create` (tables,
 * attachments, defaults, owned sequences, comments, privileges) and `finish` (constraints,
 * indexes, foreign keys, triggers, rules, policies), to run before and after its rows are loaded.
 */
export function definitionEntries(
  toc: readonly TocEntry[],
  family: TableFamily,
): { create: TocEntry[]; finish: TocEntry[] } {
  const member = (f: (schema: string, name: string) => boolean) => family.members.some((m) => f(m.schema, m.name));
  const sequence = (e: TocEntry) => family.sequences.some((s) => tagIs(e, s.schema, s.name));
  const create = toc.filter((e) => {
    switch (e.desc) {
      case 'TABLE':
      case 'TABLE ATTACH':
        return member((s, n) => tagIs(e, s, n));
      case 'DEFAULT':
        return member((s, n) => tagStartsWith(e, s, `${n} `));
      case 'SEQUENCE':
      case 'SEQUENCE OWNED BY':
        return sequence(e);
      case 'COMMENT':
      case 'ACL':
        return member((s, n) => tagIs(e, s, `TABLE ${n}`) || tagStartsWith(e, s, `COLUMN ${n}.`));
      default:
        return false;
    }
  });
  const finish = toc.filter((e) => {
    switch (e.desc) {
      case 'CONSTRAINT':
      case 'FK CONSTRAINT':
      case 'TRIGGER':
      case 'RULE':
      case 'POLICY':
        return member((s, n) => tagStartsWith(e, s, `${n} `));
      case 'ROW SECURITY':
        return member((s, n) => tagIs(e, s, n));
      case 'INDEX':
      case 'INDEX ATTACH':
        return family.indexes.some((i) => tagIs(e, i.schema, i.name));
      default:
        return false;
    }
  });
  return { create, finish };
}

/** Text for `pg_restore -L`. */
export function listFile(entries: readonly TocEntry[]): string {
  return `${entries.map((e) => e.line).join('\n')}\n`;
}
