import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import { produceRequestBuffers, type RequestBufferPool } from './produce-request-buffers.js';

type WriteCallback = (err?: Error | null) => void;

/**
 * A socket whose writes of leased request buffers give the buffer back to `pool` once the write
 * completed or failed (Node calls a write's callback when the stream holds its bytes no longer:
 * written to the kernel, or the write failed, or the socket was destroyed). Other writes are
 * untouched. Returns the same socket.
 */
export function releasingWrittenRequests<S extends Socket>(socket: S, pool: RequestBufferPool = produceRequestBuffers): S {
  const write = socket.write as (this: S, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  socket.write = function (this: S, chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean {
    if (!(chunk instanceof Uint8Array) || !pool.isLeased(chunk)) return write.call(this, chunk, encodingOrCallback, callback);
    const done = (typeof encodingOrCallback === 'function' ? encodingOrCallback : callback) as WriteCallback | undefined;
    const encoding = typeof encodingOrCallback === 'function' ? undefined : encodingOrCallback;
    return write.call(this, chunk, encoding, (err?: Error | null) => {
      pool.written(chunk);
      if (typeof done === 'function') done(err);
    });
  } as S['write'];
  return socket;
}

/**
 * kafkajs' own socket factory (plain or TLS, keep-alive as kafkajs sets it), each socket
 * releasing the produce request buffers it wrote (produce-request-buffers.ts).
 */
export function releasingSocketFactory(pool: RequestBufferPool = produceRequestBuffers): ISocketFactory {
  const require = createRequire(import.meta.url);
  const kafkajsFactory = (require('kafkajs/src/network/socketFactory.js') as () => ISocketFactory)();
  return (args) => releasingWrittenRequests(kafkajsFactory(args), pool);
}
