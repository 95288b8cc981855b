/**
 * Keeps a copy of a small request body as it streams upstream, so that a request refused or reset
 * before any answer can be sent again to another upstream. The web tier never buffers a body to
 * forward it (http-proxy#180); this copy rides along the stream and is bounded: past
 * `maxBytes` it is dropped and the request is simply not replayable.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';

export const DEFAULT_MAX_REPLAY_BODY_BYTES = 64 * 1024;

export class ReplayRecorder extends Transform {
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;
  #complete = false;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#chunks !== undefined) {
      this.#bytes += chunk.length;
      if (this.#bytes > this.#maxBytes) this.#chunks = undefined;
      else this.#chunks.push(chunk);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#complete = true;
    callback();
  }

  /**
   * A fresh stream of the whole body, or undefined when it was too large to keep or has not
   * fully arrived (the first attempt stopped reading it: the rest can no longer be replayed).
   */
  replay(): Readable | undefined {
    if (!this.#complete || this.#chunks === undefined) return undefined;
    return Readable.from(this.#chunks, { objectMode: false });
  }
}
