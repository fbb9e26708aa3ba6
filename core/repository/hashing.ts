/** SHA-256 of bytes as they stream past: every write and every read of a backup file uses this. */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { advance } from '../progress.ts';

export interface Digest {
  readonly size: number;
  /** Lower-case hex. */
  readonly sha256: string;
}

/** A pass-through that hashes and counts what flows through it. */
export class Sha256Stream extends Transform {
  private readonly hash = createHash('sha256');
  // Not `size`/`length`: lib-storage takes those as the body's total length and then aborts
  // the upload for having more parts than that length implies.
  bytesSeen = 0;

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.hash.update(bytes);
    this.bytesSeen += bytes.length;
    advance(bytes.length);
    callback(null, bytes);
  }

  override _flush(callback: TransformCallback): void {
    advance(0, 1);
    callback();
  }

  private digest: Buffer | undefined;

  /** Call after the stream has ended. */
  result(): Digest {
    this.digest ??= this.hash.digest();
    return { size: this.bytesSeen, sha256: this.digest.toString('hex') };
  }

  /** The SHA-256 as S3 reports it (base64); after the stream has ended. */
  sha256Base64(): string {
    this.digest ??= this.hash.digest();
    return this.digest.toString('base64');
  }
}

/** Reads a stream to its end and returns its digest. */
export async function digestOf(stream: AsyncIterable<Buffer>): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
    advance(chunk.length);
  }
  advance(0, 1);
  return { size, sha256: hash.digest('hex') };
}

/** Any put body as a byte stream. */
export function toReadable(body: Readable | Buffer | string): Readable {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    return Readable.from([typeof body === 'string' ? Buffer.from(body) : body], { objectMode: false });
  }
  return body;
}
