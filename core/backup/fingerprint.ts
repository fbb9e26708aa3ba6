/**
 * Content fingerprints: an order-independent digest of a table's rows, per time bucket, that a
 * backup takes from the dump's own COPY data and a verification recomputes from `COPY … TO STDOUT`
 * of the restored tables, so both sides hash the same text and no ORDER BY sort is needed.
 *
 * Each row (one COPY text line, without its newline) is hashed to 64 bits, as two 32-bit lanes of
 * MurmurHash3 with different seeds; a bucket's fingerprint is the row count and each lane's sum
 * modulo 2^32. Sums, unlike XOR, do not cancel on duplicate rows, and they add up across files.
 * Buckets are the UTC day of the relation's time column (`null` for a NULL time, `*` for a table
 * without one).
 *
 * Both sides run COPY with the same session settings (COPY_SESSION), which fix the text form of
 * times, floats, intervals and bytea; pg_dump gets them through PGOPTIONS.
 */

import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { displayName } from '../pg/ident.ts';
import { dataEntries, type TocEntry } from '../restore/toc.ts';
import type { RelationCounts, TableOutline } from './catalog.ts';
import type { ManifestFingerprints, ManifestTimescale } from './manifest.ts';
import { ROW_HASH_WASM } from './row-hash-wasm.ts';

export const FINGERPRINT_ALGORITHM = 'murmur3x2-sum/copy-text/day/v1';

/** Session settings under which COPY text is hashed, on the dump and on the verified database alike. */
export const COPY_SESSION: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
};

/** COPY_SESSION as libpq PGOPTIONS, for pg_dump. */
export function copySessionPgOptions(): string {
  return Object.entries(COPY_SESSION)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
}

/** SET LOCAL statements of COPY_SESSION, for a transaction that computes fingerprints. */
export function copySessionSql(local = true): string {
  return Object.entries(COPY_SESSION)
    .map(([k, v]) => `SET ${local ? 'LOCAL ' : ''}${k} = '${v}'`)
    .join('; ');
}

/** Row count and the two lanes' sums. */
export type Sum = [rows: number, lane1: number, lane2: number];

/** Fingerprints by bucket (`YYYY-MM-DD`, `null`, or `*` without a time column). */
export type Buckets = Record<string, Sum>;

const SEED1 = 0x9747b28c;
const SEED2 = 0x5bd1e995;

/** The two lanes of the last murmur2x call (module state: no allocation per row). */
let lane1 = 0;
let lane2 = 0;

/**
 * MurmurHash3 (x86, 32-bit) of `b[start, end)` with two seeds at once, into lane1/lane2. `view`
 * spans the same bytes as `b`: V8 compiles its little-endian 32-bit load to one instruction, where
 * four byte loads and shifts cost half the hash's time.
 */
function murmur2x(b: Buffer, view: DataView, start: number, end: number): void {
  let h1 = SEED1;
  let h2 = SEED2;
  let i = start;
  const blocks = start + ((end - start) & ~3);
  for (; i < blocks; i += 4) {
    let k = view.getInt32(i, true);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 ^= k;
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = (Math.imul(h2, 5) + 0xe6546b64) | 0;
  }
  const tail = (end - start) & 3;
  if (tail > 0) {
    let k = b[i]!;
    if (tail > 1) k ^= b[i + 1]! << 8;
    if (tail > 2) k ^= b[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h2 ^= k;
  }
  const len = end - start;
  lane1 = fmix(h1 ^ len);
  lane2 = fmix(h2 ^ len);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Bucket keys while hashing: yyyymmdd for a day, or one of these. */
const NO_TIME = -1;
const NULL_TIME = -2;
const OTHER_TIME = -3;
/** The newest time's key before any row had a day; and one above every day, once it is unknown. */
const NONE_YET = -4;
const UNKNOWN_NEWEST_KEY = 0x7fffffff;
/** The longest time text kept as the newest (row-hash.wat keeps as many bytes). */
const NEWEST_MAX_BYTES = 56;

const isDigit = (c: number) => c >= 48 && c <= 57;

const viewOf = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The parts of the WebAssembly API used here (Node's types for it come with the DOM library only). */
interface WasmGlobal {
  value: number;
}
const wasmApi = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

/** row-hash.wat's exports: its calls are synchronous, so one instance serves every hasher. */
interface RowHashModule {
  hash(length: number, timeField: number): number;
  readonly ended: WasmGlobal;
  readonly bytes: Uint8Array;
  readonly ints: Int32Array;
  readonly sliceBytes: number;
  readonly runsAt: number;
  readonly runBytes: number;
  readonly maxAt: number;
  readonly maxKey: WasmGlobal;
  readonly maxLength: WasmGlobal;
}

let rowHashModule: RowHashModule | undefined;

function rowHash(): RowHashModule {
  if (!rowHashModule) {
    const { exports } = new wasmApi.Instance(new wasmApi.Module(Buffer.from(ROW_HASH_WASM, 'base64')));
    // Its memory never grows, so these views stay valid.
    const memory = exports.memory as { buffer: ArrayBuffer };
    rowHashModule = {
      hash: exports.hash as RowHashModule['hash'],
      ended: exports.ended as WasmGlobal,
      bytes: new Uint8Array(memory.buffer),
      ints: new Int32Array(memory.buffer),
      sliceBytes: (exports.sliceBytes as WasmGlobal).value,
      runsAt: (exports.runsAt as WasmGlobal).value,
      runBytes: (exports.runBytes as WasmGlobal).value,
      maxAt: (exports.maxAt as WasmGlobal).value,
      maxKey: exports.maxKey as WasmGlobal,
      maxLength: exports.maxLength as WasmGlobal,
    };
  }
  return rowHashModule;
}

/**
 * Consumes COPY text (chunks in any sizes) and accumulates each row into its bucket. A line
 * `\.` ends the data (pg_dump's data files carry it).
 *
 * Whole rows go through row-hash.wat, twice as fast as this file's murmur2x and bucketOf, which
 * stay as the reference it is tested against, and hash what WebAssembly is not given: a row cut
 * by a chunk boundary, and a row longer than one call's input.
 */
export class RowHasher {
  /** Bucket key → [rows, lane-1 sum, lane-2 sum]. */
  private readonly sums = new Map<number, Sum>();
  /** Keys that are not days (times before year 1000, BC, infinity): their text. */
  private readonly others = new Map<string, Sum>();
  /** The start of a row that no chunk has ended yet (a compressed batch spans many). */
  private pending: Buffer[] = [];
  /** The bucket of the last row, unless it was OTHER_TIME (whose key is its text). */
  private lastKey = Number.NaN;
  private lastSum: Sum | undefined;
  private ended = false;
  /** The newest day-keyed time so far: its day key (NONE_YET before the first) and its text. */
  private newestKey = NONE_YET;
  private newestText = Buffer.alloc(0);
  /** A newer time was too long to keep, or BC: the newest time is not known here. */
  private newestUnknown = false;
  /** Where bucketOf found the time field of a row it gave a day. */
  private fieldAt = 0;

  /**
   * `timeField`: the 0-based COPY field whose day is the bucket; null for none. `wasm`: false
   * hashes every row with the TypeScript reference (tests compare the two).
   */
  constructor(
    private readonly timeField: number | null,
    private readonly wasm = true,
  ) {}

  write(chunk: Buffer): void {
    let start = 0;
    if (this.pending.length > 0) {
      const nl = chunk.indexOf(10);
      // Collected, not concatenated per chunk: a long row would be copied once per chunk it spans.
      if (nl === -1) {
        this.pending.push(chunk);
        return;
      }
      const row = Buffer.concat([...this.pending, chunk.subarray(0, nl)]);
      this.pending = [];
      this.row(row, viewOf(row), 0, row.length);
      start = nl + 1;
    }
    if (this.wasm) {
      const last = chunk.lastIndexOf(10);
      if (last >= start) this.rows(chunk, start, last + 1);
      start = Math.max(start, last + 1);
    } else {
      const view = viewOf(chunk);
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl === -1) break;
        this.row(chunk, view, start, nl);
        start = nl + 1;
      }
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** The whole rows `chunk[from, to)` (`to` is past a newline), through row-hash.wat. */
  private rows(chunk: Buffer, from: number, to: number): void {
    const m = rowHash();
    const runWords = m.runBytes >> 2;
    while (from < to && !this.ended) {
      let end = to;
      if (end - from > m.sliceBytes) {
        const nl = chunk.lastIndexOf(10, from + m.sliceBytes - 1);
        if (nl < from) {
          // One row longer than a call's input.
          const rowEnd = chunk.indexOf(10, from);
          this.row(chunk, viewOf(chunk), from, rowEnd);
          from = rowEnd + 1;
          continue;
        }
        end = nl + 1;
      }
      m.bytes.set(chunk.subarray(from, end), 0);
      m.ended.value = 0;
      m.maxKey.value = this.newestUnknown ? UNKNOWN_NEWEST_KEY : this.newestKey;
      m.maxLength.value = this.newestUnknown ? -1 : this.newestText.length;
      m.bytes.set(this.newestText, m.maxAt);
      const runs = m.hash(end - from, this.timeField ?? NO_TIME);
      if (m.maxLength.value === -1) this.newestUnknown = true;
      else this.newestText = Buffer.from(m.bytes.subarray(m.maxAt, m.maxAt + m.maxLength.value));
      this.newestKey = m.maxKey.value;
      for (let r = 0, at = m.runsAt >> 2; r < runs; r++, at += runWords) {
        const key = m.ints[at]!;
        const text = key === OTHER_TIME ? this.otherText(chunk, from + m.ints[at + 4]!, from + m.ints[at + 5]!) : '';
        this.add(key, text, m.ints[at + 1]!, m.ints[at + 2]! >>> 0, m.ints[at + 3]! >>> 0);
      }
      if (m.ended.value === 1) this.ended = true;
      from = end;
    }
  }

  end(): Buckets {
    if (this.pending.length > 0) {
      const row = Buffer.concat(this.pending);
      if (row.length > 0) this.row(row, viewOf(row), 0, row.length);
    }
    this.pending = [];
    const out: Buckets = {};
    for (const [k, sum] of this.sums) {
      const key =
        k === NO_TIME
          ? '*'
          : k === NULL_TIME
            ? 'null'
            : `${String(Math.floor(k / 10000)).padStart(4, '0')}-${String(Math.floor(k / 100) % 100).padStart(2, '0')}-${String(k % 100).padStart(2, '0')}`;
      out[key] = sum;
    }
    for (const [k, sum] of this.others) addBuckets(out, { [k]: sum });
    return out;
  }

  private row(b: Buffer, view: DataView, start: number, end: number): void {
    if (this.ended) return;
    if (end - start === 2 && b[start] === 92 && b[start + 1] === 46) {
      this.ended = true;
      return;
    }
    murmur2x(b, view, start, end);
    const key = this.bucketOf(b, start, end);
    this.add(key, key === OTHER_TIME ? this.otherText(b, start, end) : '', 1, lane1, lane2);
    if (key >= 0 && key >= this.newestKey && !this.newestUnknown) this.keepNewest(key, b, end);
  }

  /** Keeps the time field of a row with day `key` (at fieldAt, up to a tab or `end`) if it is newer. */
  private keepNewest(key: number, b: Buffer, end: number): void {
    const tab = b.indexOf(9, this.fieldAt);
    const text = b.subarray(this.fieldAt, tab === -1 || tab > end ? end : tab);
    if (key === this.newestKey && Buffer.compare(text, this.newestText) <= 0) return;
    // A BC time orders backwards (one that is not newer as text is older than the AD one kept).
    if (text.length > NEWEST_MAX_BYTES || (text.length >= 3 && text.toString('latin1', text.length - 3) === ' BC'))
      this.newestUnknown = true;
    else {
      this.newestKey = key;
      this.newestText = Buffer.from(text);
    }
  }

  /**
   * The newest time among the rows with a day bucket, as its COPY text, which is what
   * `max(column)::text` gives under COPY_SESSION: ISO text of one type in UTC orders as its times
   * do. Null for no such row; undefined when the text cannot tell (a time of other text, such as
   * infinity, BC, or one longer than NEWEST_MAX_BYTES). Call after end().
   */
  newest(): string | null | undefined {
    if (this.newestUnknown || this.others.size > 0) return undefined;
    return this.newestKey === NONE_YET ? null : this.newestText.toString('latin1');
  }

  /** Adds `rows` rows with these lane sums to bucket `key` (`text` for OTHER_TIME). */
  private add(key: number, text: string, rows: number, sum1: number, sum2: number): void {
    // Rows come mostly in time order: the previous row's bucket saves a map lookup per row.
    if (key === this.lastKey) {
      const sum = this.lastSum!;
      sum[0] += rows;
      sum[1] = (sum[1] + sum1) >>> 0;
      sum[2] = (sum[2] + sum2) >>> 0;
      return;
    }
    const map = key === OTHER_TIME ? this.others : this.sums;
    const k = key === OTHER_TIME ? text : key;
    const sum = (map as Map<number | string, Sum>).get(k);
    if (sum) {
      sum[0] += rows;
      sum[1] = (sum[1] + sum1) >>> 0;
      sum[2] = (sum[2] + sum2) >>> 0;
      if (key !== OTHER_TIME) this.remember(key, sum);
    } else {
      const added: Sum = [rows, sum1, sum2];
      (map as Map<number | string, Sum>).set(k, added);
      if (key !== OTHER_TIME) this.remember(key, added);
    }
  }

  private remember(key: number, sum: Sum): void {
    this.lastKey = key;
    this.lastSum = sum;
  }

  /** Start of the time field, or -1 when the row has fewer fields. */
  private fieldStart(b: Buffer, start: number, end: number): number {
    let at = start;
    for (let f = 0; f < this.timeField!; f++) {
      const tab = b.indexOf(9, at);
      if (tab === -1 || tab >= end) return -1;
      at = tab + 1;
    }
    return at;
  }

  private bucketOf(b: Buffer, start: number, end: number): number {
    if (this.timeField === null) return NO_TIME;
    const at = this.fieldStart(b, start, end);
    if (at === -1 || (b[at] === 92 && b[at + 1] === 78)) return NULL_TIME; // \N
    this.fieldAt = at;
    // ISO `YYYY-MM-DD…` (COPY_SESSION's DateStyle): the day as yyyymmdd.
    if (
      at + 10 <= end &&
      b[at + 4] === 45 &&
      b[at + 7] === 45 &&
      isDigit(b[at]!) &&
      isDigit(b[at + 1]!) &&
      isDigit(b[at + 2]!) &&
      isDigit(b[at + 3]!) &&
      isDigit(b[at + 5]!) &&
      isDigit(b[at + 6]!) &&
      isDigit(b[at + 8]!) &&
      isDigit(b[at + 9]!) &&
      (at + 10 === end || b[at + 10] !== 32 || b[at + 11] !== 66)
    ) {
      return (
        ((b[at]! - 48) * 1000 + (b[at + 1]! - 48) * 100 + (b[at + 2]! - 48) * 10 + (b[at + 3]! - 48)) * 10000 +
        ((b[at + 5]! - 48) * 10 + (b[at + 6]! - 48)) * 100 +
        (b[at + 8]! - 48) * 10 +
        (b[at + 9]! - 48)
      );
    }
    return OTHER_TIME;
  }

  /** The time field's text, for a value that is not an ISO day (infinity, BC, a year past 9999). */
  private otherText(b: Buffer, start: number, end: number): string {
    const at = this.fieldStart(b, start, end);
    const tab = b.indexOf(9, at);
    return b.toString('latin1', at, tab === -1 || tab > end ? end : tab);
  }
}

/** Adds `more` into `into` (fingerprints of the same table from several files). */
export function addBuckets(into: Buckets, more: Buckets): Buckets {
  for (const [k, [r, a, b]] of Object.entries(more)) {
    const sum = into[k];
    if (sum) {
      sum[0] += r;
      sum[1] = (sum[1] + a) >>> 0;
      sum[2] = (sum[2] + b) >>> 0;
    } else into[k] = [r, a, b];
  }
  return into;
}

/** The buckets' total. */
export function totalOf(buckets: Buckets): Sum {
  return Object.values(buckets).reduce<Sum>(
    (t, [r, a, b]) => [t[0] + r, (t[1] + a) >>> 0, (t[2] + b) >>> 0],
    [0, 0, 0],
  );
}

async function hashStream(stream: Readable, timeField: number | null): Promise<Buckets> {
  const hasher = new RowHasher(timeField);
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        hasher.write(chunk);
        done();
      },
    }),
  );
  return hasher.end();
}

/**
 * Fingerprints of `COPY <relation> (columns) TO STDOUT` — the statement pg_dump runs — or of a
 * query's rows, on `client`, whose session must have COPY_SESSION.
 */
export async function fingerprintCopy(
  client: pg.Client,
  copySource: string,
  timeField: number | null,
): Promise<Buckets> {
  return hashStream(client.query(copyTo(`COPY ${copySource} TO STDOUT`)), timeField);
}

/** A difference between two bucket sets, for messages: the buckets that differ, with both sides' row counts. */
export function differingBuckets(
  expected: Buckets,
  actual: Buckets,
): { bucket: string; expectedRows: number; actualRows: number }[] {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return keys
    .filter((k) => {
      const e = expected[k];
      const a = actual[k];
      return !e || !a || e[0] !== a[0] || e[1] !== a[1] || e[2] !== a[2];
    })
    .map((k) => ({ bucket: k, expectedRows: expected[k]?.[0] ?? 0, actualRows: actual[k]?.[0] ?? 0 }));
}

/** One relation to fingerprint, as the dump wrote it. */
export interface FingerprintTarget {
  readonly schema: string;
  readonly name: string;
  /** The manifest table it belongs to, `schema.name` as in SQL. */
  readonly table: string;
  readonly columns: string[];
  readonly timeColumn: string | null;
}

const TIME_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone', 'date']);

/**
 * The relations whose dump files hold the tables' rows, with their COPY column lists (attnum
 * order, without dropped or generated columns, as pg_dump writes them) and bucket column, read in
 * the dump's snapshot: each table and partition; for a hypertable, each chunk and each compressed
 * chunk (whose rows are compressed batches, bucketed by their first `_ts_meta_min_*` time).
 */
export async function planFingerprints(
  client: pg.Client,
  tables: readonly TableOutline[],
  timescale: Pick<ManifestTimescale, 'hypertables'> | null,
): Promise<FingerprintTarget[]> {
  const byName = new Map(tables.map((t) => [displayName(t), t]));
  const rootOf = (t: TableOutline): TableOutline => {
    let current = t;
    while (current.parent) {
      const parent = byName.get(displayName(splitQualified(current.parent)));
      if (!parent) break;
      current = parent;
    }
    return current;
  };
  const wanted: { schema: string; name: string; table: string; timeColumn: string | null; compressed?: boolean }[] = [];
  for (const t of tables) {
    if (t.kind === 'table' || t.kind === 'partition')
      wanted.push({ schema: t.schema, name: t.name, table: displayName(rootOf(t)), timeColumn: t.timeColumn ?? null });
    if (t.kind !== 'hypertable') continue;
    const h = timescale?.hypertables.find((x) => x.schema === t.schema && x.name === t.name);
    for (const c of h?.chunks ?? []) {
      wanted.push({ schema: c.schema, name: c.name, table: displayName(t), timeColumn: t.timeColumn ?? null });
      if (c.compressedChunk)
        wanted.push({ ...c.compressedChunk, table: displayName(t), timeColumn: null, compressed: true });
    }
  }
  if (wanted.length === 0) return [];
  const { rows } = await client.query<{ schema: string; name: string; columns: string[]; types: string[] }>(
    `
    SELECT n.nspname AS schema, c.relname AS name,
           array_agg(a.attname::text ORDER BY a.attnum) AS columns, array_agg(format_type(a.atttypid, NULL) ORDER BY a.attnum) AS types
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
     GROUP BY 1, 2`,
    [wanted.map((w) => w.schema), wanted.map((w) => w.name)],
  );
  const columnsOf = new Map(rows.map((r) => [`${r.schema}\0${r.name}`, r]));
  return wanted.flatMap((w) => {
    const r = columnsOf.get(`${w.schema}\0${w.name}`);
    if (!r) return [];
    const timeColumn = w.compressed
      ? (r.columns.find((c, i) => /^_ts_meta_min_\d+$/.test(c) && TIME_TYPES.has(r.types[i]!)) ?? null)
      : w.timeColumn !== null && r.columns.includes(w.timeColumn)
        ? w.timeColumn
        : null;
    return [{ schema: w.schema, name: w.name, table: w.table, columns: r.columns, timeColumn }];
  });
}

/** `"a"."b"` or `a.b` (as quote_ident writes a partition's parent) as its parts. */
function splitQualified(text: string): { schema: string; name: string } {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let s = '';
      i++;
      while (i < text.length) {
        if (text[i] === '"' && text[i + 1] === '"') {
          s += '"';
          i += 2;
          continue;
        }
        if (text[i] === '"') {
          i++;
          break;
        }
        s += text[i++];
      }
      parts.push(s);
    } else {
      const dot = text.indexOf('.', i);
      parts.push(text.slice(i, dot === -1 ? text.length : dot));
      i = dot === -1 ? text.length : dot;
    }
    if (text[i] === '.') i++;
  }
  return { schema: parts[0] ?? '', name: parts[1] ?? '' };
}

/** What one data file's rows hashed to, for one time-field position. */
interface HashedFile {
  readonly buckets: Buckets;
  readonly newest: string | null | undefined;
}

/** Rows of one data file passing by: fed chunk by chunk, ended once. */
export interface RowTap {
  write(chunk: Buffer): void;
  end(): void;
}

/**
 * Content fingerprints taken from the dump's own COPY text as dr compresses each data file on its
 * way to the repository (pg_dump writes it uncompressed): the rows are read once, by the upload,
 * and never read back from disk.
 *
 * A file's relation is exact once the table of contents is known (`setToc`, after the dump). A
 * file that pg_dump finished earlier is known only by its dump id and unqualified tag (its
 * "finished item" line), so it is hashed once per distinct time-column position among the
 * planned relations of that name; `result` keeps the buckets of the relation the TOC names.
 */
export class DumpFingerprinter {
  private toc: readonly TocEntry[] | undefined;
  private byDumpId: Map<number, FingerprintTarget[]> | undefined;
  /** Dump id → buckets and newest time per time-field position (`-1` for none). */
  private readonly hashed = new Map<number, Map<number, HashedFile>>();
  /** By `schema\0name`, once result() ran: each planned relation and what its file hashed to, or why none. */
  private readonly resolved = new Map<string, { target: FingerprintTarget; found: HashedFile | string }>();
  /** Time spent hashing rows, on dr's main thread (the backup's result reports it). */
  hashingMs = 0;

  /** `plan`: the relations to fingerprint, from the dump's snapshot (may still be running); undefined for none. */
  constructor(private readonly plan: Promise<readonly FingerprintTarget[] | undefined>) {}

  setToc(toc: readonly TocEntry[]): void {
    this.toc = toc;
    this.byDumpId = undefined;
  }

  /** A tap for data file `<dumpId>.dat`, or undefined when none of its rows are fingerprinted. */
  async tapFor(dumpId: number, tag: string | undefined): Promise<RowTap | undefined> {
    // A failed plan fails the backup on its own path; here it only means nothing to hash.
    const plan = await this.plan.catch(() => undefined);
    if (!plan) return undefined;
    const candidates = this.toc
      ? (this.targetsByDumpId(plan).get(dumpId) ?? [])
      : tag === undefined
        ? []
        : plan.filter((t) => t.name === tag);
    const fields = [...new Set(candidates.map(fieldOf))];
    if (fields.length === 0) return undefined;
    const hashers = fields.map((f) => new RowHasher(f === -1 ? null : f));
    return {
      write: (chunk) => {
        const started = performance.now();
        for (const h of hashers) h.write(chunk);
        this.hashingMs += performance.now() - started;
      },
      end: () => {
        this.hashed.set(dumpId, new Map(hashers.map((h, i) => [fields[i]!, { buckets: h.end(), newest: h.newest() }])));
      },
    };
  }

  /**
   * The manifest's fingerprints, once every data file has passed its tap and `setToc` was called.
   * A relation whose file was not hashed (an ambiguous TOC name, no data entry) is skipped, and
   * its table reported as checked by counts only.
   */
  async result(): Promise<ManifestFingerprints | undefined> {
    const plan = await this.plan;
    if (!plan) return undefined;
    const relations: ManifestFingerprints['relations'] = [];
    const skipped = new Map<string, string>();
    for (const t of plan) {
      const found = this.hashedOf(t);
      this.resolved.set(`${t.schema}\0${t.name}`, { target: t, found });
      if (typeof found === 'string') {
        skipped.set(t.table, found);
        continue;
      }
      relations.push({
        schema: t.schema,
        name: t.name,
        table: t.table,
        columns: t.columns,
        timeColumn: t.timeColumn,
        buckets: found.buckets,
      });
    }
    const kept = relations
      .filter((r) => !skipped.has(r.table))
      .sort((a, b) => `${a.schema}.${a.name}`.localeCompare(`${b.schema}.${b.name}`));
    return {
      algorithm: FINGERPRINT_ALGORITHM,
      relations: kept,
      skipped: [...skipped].map(([table, reason]) => ({ table, reason })),
    };
  }

  /**
   * The exact rows and newest time of `schema.name` (its freshness column `timeColumn`), as its
   * data file's COPY text holds them: the dump's snapshot, like a count(*) in it. Undefined when
   * its file was not hashed, or its newest time cannot be told from the text; call after result().
   */
  countsOf(schema: string, name: string, timeColumn: string | null): RelationCounts | undefined {
    const { target, found } = this.resolved.get(`${schema}\0${name}`) ?? {};
    // A freshness column that is not in the COPY text (a generated one) leaves the newest time unknown.
    if (!target || !found || target.timeColumn !== timeColumn || typeof found === 'string') return undefined;
    const maxTime = timeColumn === null ? null : found.newest;
    return maxTime === undefined ? undefined : { rows: totalOf(found.buckets)[0], maxTime };
  }

  /** What `t`'s data file hashed to, or why there is none. */
  private hashedOf(t: FingerprintTarget): HashedFile | string {
    let entry: TocEntry | undefined;
    try {
      entry = dataEntries(this.toc ?? [], {
        members: [{ schema: t.schema, name: t.name }],
        indexes: [],
        sequences: [],
      })[0];
    } catch (err) {
      return (err as Error).message;
    }
    return (
      (entry && this.hashed.get(entry.dumpId)?.get(fieldOf(t))) ?? `no data file for ${t.schema}.${t.name} in the dump`
    );
  }

  private targetsByDumpId(plan: readonly FingerprintTarget[]): Map<number, FingerprintTarget[]> {
    if (!this.byDumpId) {
      this.byDumpId = new Map();
      for (const t of plan) {
        let entry: TocEntry | undefined;
        try {
          entry = dataEntries(this.toc!, {
            members: [{ schema: t.schema, name: t.name }],
            indexes: [],
            sequences: [],
          })[0];
        } catch {
          continue; // ambiguous: result() reports it
        }
        if (entry) this.byDumpId.set(entry.dumpId, [...(this.byDumpId.get(entry.dumpId) ?? []), t]);
      }
    }
    return this.byDumpId;
  }
}

/** The COPY field position of a target's time column, -1 for none. */
function fieldOf(t: FingerprintTarget): number {
  return t.timeColumn === null ? -1 : t.columns.indexOf(t.timeColumn);
}

/** Differences listed per table before the rest are counted. */
const MAX_LISTED = 8;

/** What a verification found of one manifest table's content. */
export interface ContentComparison {
  readonly table: string;
  readonly rows: number;
  /** One line per differing relation and bucket; empty when identical. */
  readonly differences: string[];
}

/**
 * Recomputes the manifest's fingerprints on a restored database (`COPY relation (columns) TO
 * STDOUT`, as pg_dump ran it), `jobs` relations at a time on connections from `open`, and
 * compares them per table: a difference names the relation (partition, chunk) when it is not the
 * table itself, the bucket (day), and both sides' row counts.
 */
export async function compareContent(
  fingerprints: ManifestFingerprints,
  open: () => Promise<pg.Client>,
  jobs: number,
): Promise<ContentComparison[]> {
  const actual = new Map<(typeof fingerprints.relations)[number], Buckets | Error>();
  // Largest first, so one big table does not start last.
  const queue = [...fingerprints.relations].sort((a, b) => totalOf(b.buckets)[0] - totalOf(a.buckets)[0]);
  const worker = async () => {
    if (queue.length === 0) return;
    const client = await open();
    try {
      await client.query(copySessionSql(false));
      for (let r = queue.shift(); r; r = queue.shift()) {
        const source = `${quoted(r.schema, r.name)} (${r.columns.map((c) => quoted(c)).join(', ')})`;
        actual.set(
          r,
          await fingerprintCopy(client, source, r.timeColumn === null ? null : r.columns.indexOf(r.timeColumn)).catch(
            (err: Error) => err,
          ),
        );
      }
    } finally {
      await client.end().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, worker));
  const tables = [...new Set(fingerprints.relations.map((r) => r.table))];
  return tables.map((table) => {
    const relations = fingerprints.relations.filter((r) => r.table === table);
    const differences: string[] = [];
    for (const r of relations) {
      const where = `${r.schema}.${r.name}` === table.replace(/"/g, '') ? '' : ` (${r.schema}.${r.name})`;
      const got = actual.get(r)!;
      if (got instanceof Error) {
        differences.push(`${where.trim() || table}: ${got.message}`);
        continue;
      }
      const diff = differingBuckets(r.buckets, got);
      if (diff.length === 0) continue;
      if (r.timeColumn?.startsWith('_ts_meta_')) {
        // A compressed chunk's rows are compared as its compressed batches: say so once per chunk.
        const [e, a] = [totalOf(r.buckets)[0], totalOf(got)[0]];
        differences.push(
          `compressed batches of ${r.schema}.${r.name} differ (${a} batches, backup has ${e}; from ${diff[0]!.bucket})`,
        );
        continue;
      }
      for (const d of diff) {
        const bucket = d.bucket === '*' ? 'rows' : d.bucket === 'null' ? `${r.timeColumn} NULL` : d.bucket;
        differences.push(
          `${bucket}${where}: ${d.actualRows} rows, backup has ${d.expectedRows}${d.actualRows === d.expectedRows ? ' (contents differ)' : ''}`,
        );
      }
    }
    if (differences.length > MAX_LISTED)
      differences.splice(MAX_LISTED, differences.length, `and ${differences.length - MAX_LISTED} more`);
    return { table, rows: relations.reduce((n, r) => n + totalOf(r.buckets)[0], 0), differences };
  });
}

function quoted(...parts: string[]): string {
  return parts.map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}
