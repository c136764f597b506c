import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { createLogger } from '@walrelay/core';
import { TransactionalPublisher } from '../../src/publish/publisher.js';
import type { SourceCheckpoint } from '../../src/publish/checkpoint.js';

/**
 * The publisher's own state machine against a kafkajs double (requests are held until the
 * test releases them, and can be failed): one produce request in flight while the next batch
 * fills, requests in order, a failed request reported by the next send or the commit, and
 * abort/commit waiting for the request in flight. The real path (Kafka, the transactional
 * producer) is covered by the e2e and fault suites.
 */
interface Request {
  readonly keys: string[];
  release(): void;
  fail(error: Error): void;
}

function fakeKafka() {
  const requests: Request[] = [];
  const log: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let waiter: (() => void) | undefined;
  const transaction = {
    isActive: () => true,
    sendBatch: (args: { topicMessages: { topic: string; messages: { key: Buffer | null }[] }[] }) =>
      new Promise<void>((resolve, reject) => {
        const keys = args.topicMessages.flatMap((t) => t.messages.map((m) => `${t.topic}:${m.key?.toString() ?? ''}`));
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        log.push(`send ${keys.join(',')}`);
        requests.push({
          keys,
          release: () => {
            inFlight--;
            resolve();
          },
          fail: (e) => {
            inFlight--;
            reject(e);
          },
        });
        waiter?.();
      }),
    commit: async () => {
      log.push('commit');
    },
    abort: async () => {
      log.push('abort');
    },
  };
  const kafka = {
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      transaction: async () => {
        log.push('begin');
        return transaction;
      },
    }),
  } as unknown as Kafka;
  return {
    kafka,
    requests,
    log,
    maxInFlight: () => maxInFlight,
    /** Resolves once `n` requests have been sent. */
    sent: async (n: number) => {
      while (requests.length < n) await new Promise<void>((r) => (waiter = r));
    },
  };
}

const checkpoint: SourceCheckpoint = { slot: 's', commitLsn: 1n, endLsn: 2n, partialFinalLsn: null, partialPublished: 0n, snapshot: 'DONE', snapshotConsistentLsn: null };
const record = (i: number) => ({ topic: 't', partition: 0, key: Buffer.from(String(i)), value: Buffer.from('v') });

async function publisher(f: ReturnType<typeof fakeKafka>): Promise<TransactionalPublisher> {
  const p = new TransactionalPublisher(f.kafka, { transactionalId: 'x', checkpointTopic: 'cp', sendEveryRecords: 2, sendEveryBytes: 1 << 20, transactionTimeoutMs: 60_000 }, createLogger('test', 'silent'));
  await p.connect();
  return p;
}

/** A publisher that has sent its first batch (records 1 and 2), still in flight. */
async function oneRequestInFlight(): Promise<{ f: ReturnType<typeof fakeKafka>; p: TransactionalPublisher }> {
  const f = fakeKafka();
  const p = await publisher(f);
  p.add(record(1));
  await p.add(record(2));
  await f.sent(1);
  return { f, p };
}

test('the next batch fills while one request is in flight; requests stay in order, never two at once', async () => {
  const f = fakeKafka();
  const p = await publisher(f);
  assert.equal(p.add(record(1)), undefined);
  await p.add(record(2)); // starts request 1 and returns without waiting for it
  await f.sent(1);
  assert.equal(p.add(record(3)), undefined); // buffered while request 1 is in flight
  const second = p.add(record(4));
  assert.ok(second, 'a full buffer sends');
  let started = false;
  void second.then(() => (started = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(started, false, 'request 2 waits for request 1');
  assert.equal(f.requests.length, 1);
  f.requests[0]!.release();
  await second;
  await f.sent(2);
  const committing = p.commit(checkpoint);
  await new Promise((r) => setImmediate(r));
  assert.ok(!f.log.includes('commit'), 'commit waits for the request in flight');
  f.requests[1]!.release();
  await f.sent(3);
  f.requests[2]!.release();
  await committing;
  assert.deepEqual(f.log, ['begin', 'send t:1,t:2', 'send t:3,t:4', 'send cp:s', 'commit']);
  assert.equal(f.maxInFlight(), 1);
});

test('a failed request is thrown by the next send, and abort waits for the request in flight', async () => {
  const { f, p } = await oneRequestInFlight();
  f.requests[0]!.fail(new Error('broker said no'));
  p.add(record(3));
  await assert.rejects(p.add(record(4))!, /broker said no/);
  // The failure is reported once; the stream then aborts, which discards the buffer.
  await p.abort();
  assert.deepEqual(f.log, ['begin', 'send t:1,t:2', 'abort']);
});

test('a failed request is thrown by commit, which then sends nothing', async () => {
  const { f, p } = await oneRequestInFlight();
  const committing = p.commit(checkpoint);
  f.requests[0]!.fail(new Error('not leader'));
  await assert.rejects(committing, /not leader/);
  assert.deepEqual(f.log, ['begin', 'send t:1,t:2']);
});

test('abort with a request in flight waits for it before aborting', async () => {
  const { f, p } = await oneRequestInFlight();
  const aborting = p.abort();
  await new Promise((r) => setImmediate(r));
  assert.ok(!f.log.includes('abort'));
  f.requests[0]!.release();
  await aborting;
  assert.deepEqual(f.log, ['begin', 'send t:1,t:2', 'abort']);
  assert.equal(p.inTransaction, 0);
});

test('the publisher reports how long its caller waited: to hand a batch over (the request in flight) and in a commit', async () => {
  const { f, p } = await oneRequestInFlight();
  const waits: { on: string; ms: number }[] = [];
  p.onWait = (on, ms) => waits.push({ on, ms });
  p.add(record(3));
  const handOverFrom = performance.now();
  const handOver = p.add(record(4))!;
  // Held until request 1 completes: the wait reported covers at least the time it was held
  // (from after the hand-over began to the release), and no more than the whole call.
  await new Promise((r) => setImmediate(r));
  assert.equal(waits.length, 0, 'nothing reported while still waiting');
  const heldFrom = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  const releasedAt = performance.now();
  f.requests[0]!.release();
  await handOver;
  const handOverTo = performance.now();
  assert.equal(waits.length, 1);
  assert.equal(waits[0]!.on, 'produce');
  assert.ok(waits[0]!.ms >= releasedAt - heldFrom && waits[0]!.ms <= handOverTo - handOverFrom, `hand-over wait ${waits[0]!.ms} ms`);
  // A commit: the request in flight, then the checkpoint's send, then the Kafka commit.
  await f.sent(2);
  const commitFrom = performance.now();
  const committing = p.commit(checkpoint);
  await new Promise((r) => setImmediate(r));
  const commitHeldFrom = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  const secondReleasedAt = performance.now();
  f.requests[1]!.release();
  await f.sent(3);
  f.requests[2]!.release();
  await committing;
  const commitTo = performance.now();
  assert.deepEqual(waits.map((w) => w.on), ['produce', 'commit']);
  assert.ok(waits[1]!.ms >= secondReleasedAt - commitHeldFrom && waits[1]!.ms <= commitTo - commitFrom, `commit wait ${waits[1]!.ms} ms`);
  // A failed commit is time waited too.
  p.add(record(5));
  await p.add(record(6));
  await f.sent(4);
  f.requests[3]!.fail(new Error('broker said no'));
  await assert.rejects(p.commit(checkpoint), /broker said no/);
  assert.deepEqual(waits.map((w) => w.on), ['produce', 'commit', 'produce', 'commit']);
});
