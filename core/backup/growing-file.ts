/**
 * pg_dump's data files, read while pg_dump is still writing them: dr compresses, hashes and
 * uploads a table's rows as they are dumped instead of after its file is closed, so the largest
 * table no longer leaves a compression-and-upload tail after pg_dump has finished.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a reader that caught up with the writer waits before it looks again. */
const POLL_MS = 20;

/** Fails a data file's reader when pg_dump ended without closing it; the dump's own error is the one reported. */
export class DumpStopped extends Error {
  constructor() {
    super('pg_dump stopped before this data file was complete');
  }
}

/**
 * Reads `path` from its start as another process appends to it. Having caught up, it waits for
 * more until `closed` settles, then reads what is left and ends; a rejected `closed` fails it.
 */
export function readGrowingFile(path: string, closed: Promise<void>, chunkSize: number): Readable {
  let state: 'open' | 'closed' | 'failed' = 'open';
  let failure: unknown;
  const settled = closed.then(
    () => {
      state = 'closed';
    },
    (err: unknown) => {
      state = 'failed';
      failure = err;
    },
  );
  let handle: FileHandle | undefined;
  let position = 0;
  let caughtUp = false;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      void (async () => {
        handle ??= await open(path, 'r');
        for (;;) {
          // Read only after noting the state: a file closed before this read is complete once it returns 0.
          const wasClosed = state === 'closed';
          if (state === 'failed') throw failure;
          // Small reads cost a trip to the thread pool each: let the writer get ahead first.
          if (caughtUp && !wasClosed) await Promise.race([sleep(POLL_MS), settled]);
          const buffer = Buffer.allocUnsafe(chunkSize);
          const { bytesRead } = await handle.read(buffer, 0, chunkSize, position);
          caughtUp = bytesRead < chunkSize;
          if (bytesRead > 0) {
            position += bytesRead;
            // A short piece is copied out, so a queue of them does not hold a full chunk each.
            this.push(bytesRead === chunkSize ? buffer : Buffer.from(buffer.subarray(0, bytesRead)));
            return;
          }
          if (wasClosed) {
            this.push(null);
            return;
          }
        }
      })().catch((err: unknown) => this.destroy(err as Error));
    },
    destroy(err, callback) {
      const closing = handle?.close() ?? Promise.resolve();
      closing.then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}

/** pg_dump --verbose's line for a parallel worker's finished data file: its dump id and table name. */
export const FINISHED_ITEM_LINE = /finished item (\d+) TABLE DATA (.+)$/;
/** pg_dump --verbose's line as it starts a table's data: `schema.name`, unquoted. */
export const STARTED_TABLE_LINE = /dumping contents of table "(.+)"$/;

/**
 * When each of pg_dump's `<dumpId>.dat` files is closed: at its "finished item" line (a parallel
 * dump prints one per file); for a single-job dump, which writes one file at a time, when it says
 * it starts the next table; and at the dump's end.
 */
export class DumpFileClosings {
  private readonly pending = new Map<
    number,
    { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }
  >();
  private readonly done = new Set<number>();
  private readonly tags = new Map<number, string>();
  private ended: { error?: unknown } | undefined;
  /** The data file of the table a single-job dump announced last (still being written). */
  private lastStarted: Promise<number | undefined> | undefined;

  /** Settles once pg_dump has closed `<dumpId>.dat` (rejects with DumpStopped when it failed first). */
  closing(dumpId: number): Promise<void> {
    if (this.done.has(dumpId)) return Promise.resolve();
    if (this.ended) {
      if (this.ended.error === undefined) return Promise.resolve();
      // A scan that was under way when the dump failed may ask still, and drop the answer.
      const stopped = Promise.reject(this.ended.error);
      stopped.catch(() => undefined);
      return stopped;
    }
    let entry = this.pending.get(dumpId);
    if (!entry) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A reader may not be listening yet: a dump that fails is reported on its own path.
      promise.catch(() => undefined);
      entry = { promise, resolve, reject };
      this.pending.set(dumpId, entry);
    }
    return entry.promise;
  }

  /** pg_dump's "finished item <dumpId> TABLE DATA <tag>" line. */
  finished(dumpId: number, tag: string): void {
    this.tags.set(dumpId, tag);
    this.closed(dumpId);
  }

  /**
   * A single-job dump's "dumping contents of table "<schema>.<name>"" line. pg_dump prints it
   * once the previous table's file is closed and this one's opened, so the previous table's file
   * is complete. `dumpIdOf` names a table's data file (from the TOC), undefined when it cannot
   * tell; that file then waits for the dump's end, as it did before.
   */
  started(table: string, dumpIdOf: (table: string) => Promise<number | undefined>): void {
    const previous = this.lastStarted;
    this.lastStarted = dumpIdOf(table).catch(() => undefined);
    void previous?.then((dumpId) => {
      if (dumpId !== undefined) this.closed(dumpId);
    });
  }

  /** The table's unqualified name, once its item has finished. */
  tagOf(dumpId: number): string | undefined {
    return this.tags.get(dumpId);
  }

  /** Whether pg_dump has closed `<dumpId>.dat`, or ended. */
  isDone(dumpId: number): boolean {
    return this.done.has(dumpId) || this.ended !== undefined;
  }

  /** pg_dump has exited: every file is complete when it succeeded, and none will be otherwise. The first call counts. */
  end(succeeded: boolean): void {
    if (this.ended) return;
    this.ended = succeeded ? {} : { error: new DumpStopped() };
    for (const [id, entry] of this.pending) {
      if (succeeded) entry.resolve();
      else entry.reject(this.ended.error);
      this.pending.delete(id);
    }
  }

  private closed(dumpId: number): void {
    this.done.add(dumpId);
    this.pending.get(dumpId)?.resolve();
    this.pending.delete(dumpId);
  }
}
