import { onIdleMemoryRelease } from './idle-memory.js';

/**
 * Buffers for produce requests, used again once their bytes are written.
 *
 * Why: a produce request's buffer (≈1.3 MB with the bench's narrow rows, ≈2.4 MB with 2 KB rows)
 * is larger than glibc's mmap threshold (256 KB, heap-settings.ts), so each new one is mapped
 * fresh and every page of it faults in as the records are copied into it: 586–588 page faults
 * and 2.2 ms per 2.4 MB request measured, against 0.11 ms into a buffer already touched. In the
 * 2 KB-row source that copy was 8–9% of its busy time (docs/performance.md, Session 20).
 *
 * When a buffer is free again: only when the socket says so — the write callback of the request
 * (socket-write-release.ts), which Node calls once the stream no longer holds the bytes (written
 * to the kernel, or the write failed or the socket was destroyed). A request that was encoded
 * but never written (kafkajs gave up before sending, or framed it into a buffer of its own)
 * keeps its lease for ever: the pool forgets it, and it is collected like any buffer. So a buffer
 * is never handed out while a socket may still read from it.
 *
 * Bounded: at most `maxFree` buffers wait for their next request, each at most `maxPooledBytes`
 * (larger requests get a buffer of their own, as before), and the free ones are dropped when the
 * process goes idle (idle-memory.ts).
 */
export interface RequestBufferPoolOptions {
  /** Free buffers kept for the next requests (the source has one request in flight and encodes the next). */
  readonly maxFree: number;
  /** Requests larger than this get a buffer of their own, never pooled. */
  readonly maxPooledBytes: number;
  /** Pooled buffers are allocated in multiples of this, so a slightly larger request still fits. */
  readonly granularity: number;
}

export const DEFAULT_REQUEST_BUFFER_POOL: RequestBufferPoolOptions = { maxFree: 2, maxPooledBytes: 16 * 1024 * 1024, granularity: 256 * 1024 };

export class RequestBufferPool {
  readonly #options: RequestBufferPoolOptions;
  /** Whole buffers no request holds, smallest first. */
  readonly #free: Buffer[] = [];
  /** Buffers leased to a request, by their memory (what every view of them shares), until written. */
  readonly #leased = new WeakMap<ArrayBufferLike, Buffer>();
  #allocated = 0;

  constructor(options: RequestBufferPoolOptions = DEFAULT_REQUEST_BUFFER_POOL) {
    if (!(options.maxFree >= 0 && options.maxPooledBytes >= 0 && options.granularity >= 1)) throw new RangeError(`request buffer pool: invalid options ${JSON.stringify(options)}`);
    this.#options = options;
  }

  /** `size` bytes for one request: a view of a free buffer that fits, else of a new one; never shared with a request not yet written. */
  lease(size: number): Buffer {
    if (size > this.#options.maxPooledBytes || this.#options.maxFree === 0) return Buffer.allocUnsafe(size);
    const at = this.#free.findIndex((b) => b.length >= size);
    let whole: Buffer;
    if (at >= 0) whole = this.#free.splice(at, 1)[0]!;
    else {
      whole = Buffer.allocUnsafeSlow(Math.ceil(size / this.#options.granularity) * this.#options.granularity);
      this.#allocated++;
    }
    this.#leased.set(whole.buffer, whole);
    return whole.subarray(0, size);
  }

  /** Whether `bytes` lie in a leased buffer (a request whose write has not completed). */
  isLeased(bytes: Uint8Array): boolean {
    return this.#leased.has(bytes.buffer);
  }

  /**
   * The write of `bytes` (a view of a leased buffer) completed or failed: the stream holds them
   * no longer, and the buffer serves the next request. Anything else is ignored.
   */
  written(bytes: Uint8Array): void {
    const whole = this.#leased.get(bytes.buffer);
    if (whole === undefined) return;
    this.#leased.delete(bytes.buffer);
    const free = this.#free;
    let at = 0;
    while (at < free.length && free[at]!.length < whole.length) at++;
    free.splice(at, 0, whole);
    // Over the bound: keep the largest (they fit every request the smaller ones fit).
    if (free.length > this.#options.maxFree) free.shift();
  }

  /** Drops the free buffers (leased ones return later and are kept then). */
  clear(): void {
    this.#free.length = 0;
  }

  /** Buffers the pool allocated so far (a request served by a free one allocates none). */
  get allocated(): number {
    return this.#allocated;
  }

  /** Bytes held by free buffers. */
  get freeBytes(): number {
    let n = 0;
    for (const b of this.#free) n += b.length;
    return n;
  }
}

/** The pool of this process's produce requests (kafkajs-produce-request.ts leases, socket-write-release.ts gives back). */
export const produceRequestBuffers = new RequestBufferPool();
onIdleMemoryRelease(() => produceRequestBuffers.clear());
