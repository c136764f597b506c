import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { RequestBufferPool } from '../src/produce-request-buffers.js';
import { releasingWrittenRequests } from '../src/socket-write-release.js';

const OPTIONS = { maxFree: 2, maxPooledBytes: 1024 * 1024, granularity: 64 * 1024 };

function sameMemory(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer;
}

test('a leased buffer is never handed out again before it is written; once written, the next request uses it', () => {
  const pool = new RequestBufferPool(OPTIONS);
  const a = pool.lease(100_000);
  const b = pool.lease(100_000);
  assert.equal(a.length, 100_000);
  assert.equal(b.length, 100_000);
  assert.ok(!sameMemory(a, b), 'two requests in flight share no memory');
  assert.ok(pool.isLeased(a) && pool.isLeased(b));
  assert.ok(pool.isLeased(a.subarray(10, 20)), 'a view of a leased buffer (the framed request) is leased too');
  assert.equal(pool.allocated, 2);

  pool.written(a);
  assert.ok(!pool.isLeased(a));
  const c = pool.lease(120_000); // same 128 KB granule: fits a's buffer
  assert.ok(sameMemory(c, a), 'the written buffer serves the next request');
  assert.equal(c.length, 120_000);
  assert.equal(pool.allocated, 2);
  const d = pool.lease(100_000);
  assert.ok(!sameMemory(d, a) && !sameMemory(d, b), 'b is still leased: a new buffer');
  assert.equal(pool.allocated, 3);

  pool.written(Buffer.alloc(10)); // not the pool's: ignored
  pool.written(c);
  pool.written(c); // twice: the second is ignored, the buffer is free once
  assert.equal(pool.freeBytes, 128 * 1024);
  const e = pool.lease(10);
  const f = pool.lease(10);
  assert.ok(sameMemory(e, a));
  assert.ok(!sameMemory(f, a), 'a buffer freed once is leased once');
});

test('free buffers: the smallest that fits is taken, at most maxFree are kept (the largest), and clear() drops them', () => {
  const pool = new RequestBufferPool(OPTIONS);
  const small = pool.lease(64 * 1024);
  const medium = pool.lease(200 * 1024);
  const large = pool.lease(600 * 1024);
  for (const x of [large, small, medium]) pool.written(x);
  assert.equal(pool.freeBytes, (256 + 640) * 1024, 'the smallest of three was dropped');
  const m = pool.lease(100 * 1024);
  assert.ok(sameMemory(m, medium), 'the smallest free buffer that fits');
  const l = pool.lease(100 * 1024);
  assert.ok(sameMemory(l, large));
  pool.written(m);
  pool.clear();
  assert.equal(pool.freeBytes, 0);
  assert.ok(!sameMemory(pool.lease(100 * 1024), medium));
});

test('a request larger than maxPooledBytes, or a pool of no free buffers, gets memory of its own, never pooled', () => {
  const pool = new RequestBufferPool(OPTIONS);
  const big = pool.lease(2 * 1024 * 1024);
  assert.equal(big.length, 2 * 1024 * 1024);
  assert.ok(!pool.isLeased(big));
  pool.written(big);
  assert.equal(pool.freeBytes, 0);
  const none = new RequestBufferPool({ ...OPTIONS, maxFree: 0 });
  const x = none.lease(100_000);
  none.written(x);
  assert.ok(!sameMemory(none.lease(100_000), x));
  assert.throws(() => new RequestBufferPool({ ...OPTIONS, granularity: 0 }), RangeError);
});

/** A local TCP server that does not read until `resume()`; `received` resolves with every byte it got. */
async function pausedServer(): Promise<{ port: number; resume(): void; received: Promise<Buffer>; close(): void }> {
  let resume!: () => void;
  let resolveReceived!: (b: Buffer) => void;
  const received = new Promise<Buffer>((r) => (resolveReceived = r));
  const connections: net.Socket[] = [];
  const server = net.createServer((conn) => {
    connections.push(conn);
    conn.pause();
    const chunks: Buffer[] = [];
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('end', () => resolveReceived(Buffer.concat(chunks)));
    resume = () => conn.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, resume: () => resume(), received, close: () => {
    for (const c of connections) c.destroy();
    server.close();
  } };
}

/** A pool that takes 32 MB requests, and a socket releasing into it, connected to a paused server. */
async function pausedConnection(): Promise<{ pool: RequestBufferPool; server: Awaited<ReturnType<typeof pausedServer>>; socket: net.Socket }> {
  const pool = new RequestBufferPool({ ...OPTIONS, maxPooledBytes: 64 * 1024 * 1024 });
  const server = await pausedServer();
  const socket = releasingWrittenRequests(net.connect(server.port, '127.0.0.1'), pool);
  await once(socket, 'connect');
  return { pool, server, socket };
}

test('over a real socket, a leased request is given back only once its write completed, and its bytes arrive intact', async () => {
  const { pool, server, socket } = await pausedConnection();
  try {
    // 32 MB: more than the kernel's socket buffers take while the peer reads nothing.
    const request = pool.lease(32 * 1024 * 1024);
    for (let i = 0; i < request.length; i += 4) request.writeUInt32BE(i, i);
    const expected = Buffer.from(request);
    let callbackErr: unknown = 'not called';
    socket.write(request.subarray(0, request.length), 'binary', (err) => (callbackErr = err));
    const plain = Buffer.from('and a write that is not a request');
    socket.write(plain);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(pool.isLeased(request), 'still leased while the socket holds bytes it has not written');
    assert.ok(socket.writableLength > 0, 'the write is still pending (the peer reads nothing)');
    assert.equal(callbackErr, 'not called');
    server.resume();
    while (pool.isLeased(request)) await once(socket, 'drain').catch(() => undefined);
    assert.ok(callbackErr === null || callbackErr === undefined, "the caller's own callback is still called, without an error");
    assert.equal(pool.freeBytes, 32 * 1024 * 1024);
    socket.end();
    const got = await server.received;
    assert.ok(got.subarray(0, expected.length).equals(expected), 'the request arrived as written');
    assert.equal(got.subarray(expected.length).toString(), plain.toString());
  } finally {
    socket.destroy();
    server.close();
  }
});

test('a request whose socket is destroyed before its write completes is given back (with the error to the caller)', async () => {
  const { pool, server, socket } = await pausedConnection();
  socket.on('error', () => undefined);
  try {
    const first = pool.lease(32 * 1024 * 1024);
    const second = pool.lease(1024);
    const errors: unknown[] = [];
    socket.write(first, (err) => errors.push(err));
    socket.write(second, (err) => errors.push(err)); // queued behind the first
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(pool.isLeased(first) && pool.isLeased(second));
    socket.destroy();
    while (errors.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!pool.isLeased(first) && !pool.isLeased(second));
    assert.ok(errors.every((e) => e instanceof Error), 'each caller learns its write failed');
  } finally {
    server.close();
  }
});
