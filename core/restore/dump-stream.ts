/**
 * Loads TABLE DATA entries of a verified pg_dump directory archive straight into an open
 * transaction, with no staging copy: `pg_restore --data-only --use-list=L --file=-` prints SQL
 * (a few `SET`s, then per entry `COPY schema.table (cols) FROM stdin;`, the rows already in COPY
 * text format, and a `\.` line), and each COPY block is fed as is to `COPY … FROM STDIN`.
 *
 * Exactness: in COPY text format a newline inside a value is written `\n` and a backslash `\\`,
 * so every row is one physical line and no row can be the line `\.`.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DrError } from '../errors.ts';
import { firstErrorLine, type PgTools, toolPath } from '../pg/connection.ts';
import { diesWithParent, isSetprivExecFailure, throwIfInterrupted, trackChild } from '../signals.ts';
import { listFile, type TocEntry } from './toc.ts';

const NEWLINE = 0x0a;
const END_OF_DATA = Buffer.from('\\.\n');
const LINE_THEN_END_OF_DATA = Buffer.from('\n\\.\n');

/** Reads pg_restore's script: lines outside COPY blocks, raw whole-line chunks inside them. */
export class ScriptReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(input: AsyncIterable<Buffer>) {
    this.chunks = input[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    const next = await this.chunks.next();
    if (next.done) return false;
    this.buf = this.buf.length ? Buffer.concat([this.buf, next.value]) : next.value;
    return true;
  }

  /** The next line without its newline; null at the end of the script. */
  async line(): Promise<string | null> {
    for (;;) {
      const end = this.buf.indexOf(NEWLINE);
      if (end >= 0) {
        const text = this.buf.subarray(0, end).toString('utf8');
        this.buf = this.buf.subarray(end + 1);
        return text;
      }
      if (!(await this.more())) {
        if (this.buf.length === 0) return null;
        const text = this.buf.toString('utf8');
        this.buf = Buffer.alloc(0);
        return text;
      }
    }
  }

  /** A COPY block's rows (right after its header line), in chunks of whole lines, up to and without the `\.` line. */
  async *copyData(): AsyncGenerator<Buffer> {
    for (;;) {
      // buf always starts at a line start here.
      if (this.buf.length >= END_OF_DATA.length && this.buf.subarray(0, END_OF_DATA.length).equals(END_OF_DATA)) {
        this.buf = this.buf.subarray(END_OF_DATA.length);
        return;
      }
      const end = this.buf.indexOf(LINE_THEN_END_OF_DATA);
      if (end >= 0) {
        const rows = this.buf.subarray(0, end + 1);
        this.buf = this.buf.subarray(end + LINE_THEN_END_OF_DATA.length);
        yield rows;
        return;
      }
      const last = this.buf.lastIndexOf(NEWLINE);
      if (last >= 0) {
        const rows = this.buf.subarray(0, last + 1);
        this.buf = this.buf.subarray(last + 1);
        yield rows;
      }
      if (!(await this.more())) {
        if (this.buf.toString() === '\\.') {
          this.buf = Buffer.alloc(0);
          return;
        }
        throw new Error('the COPY data ended without its \\. line');
      }
    }
  }
}

/** One SQL identifier as pg_dump prints it (quoted when needed) at `text[i]`; returns it and the index after it. */
function identAt(text: string, i: number): [string, number] | null {
  if (text[i] === '"') {
    let name = '';
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] !== '"') name += text[j];
      else if (text[j + 1] === '"') {
        name += '"';
        j++;
      } else return [name, j + 1];
    }
    return null;
  }
  const m = /^[^\s".,()]+/.exec(text.slice(i));
  return m ? [m[0], i + m[0].length] : null;
}

export interface CopyHeader {
  readonly schema: string;
  readonly name: string;
  /** Empty when the table has no columns. */
  readonly columns: string[];
}

/** `COPY public.candles_2025_09 (symbol_id, "time", …) FROM stdin;` as pg_dump writes it; null for any other line. */
export function parseCopyHeader(line: string): CopyHeader | null {
  if (!line.startsWith('COPY ') || !line.endsWith(' FROM stdin;')) return null;
  const schema = identAt(line, 5);
  if (!schema || line[schema[1]] !== '.') return null;
  const name = identAt(line, schema[1] + 1);
  if (!name) return null;
  let i = name[1];
  const columns: string[] = [];
  if (line.startsWith(' (', i)) {
    i += 2;
    for (;;) {
      const column = identAt(line, i);
      if (!column) return null;
      columns.push(column[0]);
      i = column[1];
      if (line.startsWith(', ', i)) i += 2;
      else if (line[i] === ')') {
        i++;
        break;
      } else return null;
    }
  }
  return line.slice(i).trim() === 'FROM stdin;' ? { schema: schema[0], name: name[0], columns } : null;
}

/**
 * The session settings the script begins with, scoped to the caller's transaction (`SET LOCAL`).
 * search_path is left alone: every COPY here names its table with its schema.
 */
function localSetting(statement: string): string | null | undefined {
  const set = /^SET (\w+) = (.+);$/.exec(statement);
  if (set) return `SET LOCAL ${set[1]} = ${set[2]}`;
  if (/^SELECT pg_catalog\.set_config\('search_path', '.*', false\);$/.test(statement)) return null;
  return undefined;
}

export interface StreamLoadOptions {
  /** Directory archive holding toc.dat and (at least) the entries' data files, verified. */
  readonly dumpDir: string;
  /** TABLE DATA entries to load. */
  readonly entries: readonly TocEntry[];
  /** Where each COPY block goes: `COPY <into(header)> FROM STDIN`, e.g. the partitioned parent with the block's columns. */
  readonly into: (header: CopyHeader) => string;
  /** Private directory for the list file. */
  readonly workDir: string;
  readonly tools?: PgTools;
}

/** Streams the entries' rows into `client` (inside its open transaction); returns the rows loaded. */
export async function loadDumpData(client: pg.Client, options: StreamLoadOptions): Promise<number> {
  const [first] = options.entries;
  if (first === undefined) return 0;
  const list = join(options.workDir, `stream-${first.dumpId}-${options.entries.length}.list`);
  await writeFile(list, listFile(options.entries));
  throwIfInterrupted();
  const tool = diesWithParent(toolPath(options.tools ?? {}, 'pg_restore'), [
    '--data-only',
    `--use-list=${list}`,
    '--file=-',
    options.dumpDir,
  ]);
  const child = spawn(tool.file, tool.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = stderr.length < 100_000 ? stderr + d : stderr;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new DrError(
              `pg_restore not found${options.tools?.binDir ? ` in ${options.tools.binDir}` : ' on PATH'}`,
              "install the PostgreSQL client tools of the server's major version, or point --pg-bin at them",
            )
          : err,
      ),
    );
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  exited.catch(() => {});
  let rows = 0;
  let encodingChanged = false;
  try {
    const reader = new ScriptReader(child.stdout);
    let statement = '';
    for (let line = await reader.line(); line !== null; line = await reader.line()) {
      // psql meta-commands (\restrict), comments and blank lines between statements.
      if (statement === '' && (line === '' || line.startsWith('--') || line.startsWith('\\'))) continue;
      statement = statement ? `${statement}\n${line}` : line;
      if (!statement.endsWith(';')) continue;
      const header = parseCopyHeader(statement);
      if (header) {
        const writer = client.query(copyFrom(`COPY ${options.into(header)} FROM STDIN`));
        await pipeline(Readable.from(reader.copyData(), { objectMode: false }), writer);
        rows += writer.rowCount;
      } else {
        const local = localSetting(statement);
        if (local === undefined)
          throw new Error(`unexpected statement in pg_restore's data script: ${statement.slice(0, 200)}`);
        if (local !== null) {
          await client.query(local);
          encodingChanged ||= /^SET LOCAL client_encoding /.test(local);
        }
      }
      statement = '';
    }
    if (statement.trim())
      throw new Error(`pg_restore's data script ends in an unfinished statement: ${statement.slice(0, 200)}`);
    const code = await exited;
    throwIfInterrupted();
    if (code !== 0 && isSetprivExecFailure(stderr))
      throw new DrError(
        `pg_restore not found${options.tools?.binDir ? ` in ${options.tools.binDir}` : ' on PATH'}`,
        "install the PostgreSQL client tools of the server's major version, or point --pg-bin at them",
      );
    if (code !== 0)
      throw new DrError(
        `reading the backup's rows failed: ${firstErrorLine(stderr)}`,
        'see the pg_restore message; the target was rolled back and is unchanged',
      );
  } catch (err) {
    // Unread output would keep the process from closing.
    child.stdout.destroy();
    child.kill();
    await exited.catch(() => {});
    throwIfInterrupted();
    if (
      err instanceof Error &&
      !(err instanceof DrError) &&
      (err as { code?: unknown }).code === undefined &&
      stderr.trim()
    ) {
      throw new DrError(
        `reading the backup's rows failed: ${firstErrorLine(stderr)}`,
        'see the pg_restore message; the target was rolled back and is unchanged',
        1,
        { cause: err },
      );
    }
    throw err;
  } finally {
    // node-postgres decodes everything as UTF-8.
    if (encodingChanged) await client.query(`SET LOCAL client_encoding = 'UTF8'`).catch(() => {});
  }
  return rows;
}
