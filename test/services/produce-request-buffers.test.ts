// The produce request buffers used again (packages/core/src/produce-request-buffers.ts) against
// the local broker: walrelay's kafkajs client gives each request's buffer back once its socket
// wrote it, the next requests reuse it, and every record reads back exactly as it was sent.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createKafka, createLogger, produceRequestBuffers } from '@walrelay/core';
import type { Admin, Consumer, Producer } from 'kafkajs';
import { KAFKA_BROKERS, unique, waitFor } from './helpers.js';

const kafka = createKafka({ brokers: KAFKA_BROKERS, clientId: 'walrelay-request-buffers-test', ssl: false, connectionTimeoutMs: 10_000, requestTimeoutMs: 30_000, compression: 'none' }, createLogger('test', 'warn'));
const topic = unique('walrelay.request-buffers-test');
let admin: Admin | undefined;
let producer: Producer | undefined;
let consumer: Consumer | undefined;

after(async () => {
  await consumer?.disconnect().catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
});

/** Record `i` of request `r`: distinct bytes everywhere, so a buffer reused too early would show. */
function value(r: number, i: number): Buffer {
  const seed = createHash('sha256').update(`${r}/${i}`).digest();
  const out = Buffer.allocUnsafe(2_000 + ((r * 37 + i) % 500));
  for (let at = 0; at < out.length; at += seed.length) seed.copy(out, at);
  return out;
}

test('transactional produce requests reuse their buffers once written, and every record reads back exactly', async () => {
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  producer = kafka.producer({ transactionalId: topic, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const REQUESTS = 12;
  const PER_REQUEST = 600; // ≈1.4 MB per request
  const allocatedBefore = produceRequestBuffers.allocated;
  const sent = new Map<string, string>();
  const tx = await producer.transaction();
  for (let r = 0; r < REQUESTS; r++) {
    const messages = Array.from({ length: PER_REQUEST }, (_, i) => {
      const key = `${r}-${i}`;
      const v = value(r, i);
      sent.set(key, createHash('sha256').update(v).digest('hex'));
      return { key, value: v, partition: i % 3 };
    });
    await tx.send({ topic, messages, acks: -1 });
  }
  await tx.commit();
  const allocated = produceRequestBuffers.allocated - allocatedBefore;
  // Every request of this producer went out over a socket that gave its buffer back: the twelve
  // large requests (and the transaction's small ones) were served by a few buffers.
  assert.ok(allocated <= 3, `${REQUESTS} produce requests allocated ${allocated} request buffers`);
  assert.ok(produceRequestBuffers.freeBytes >= PER_REQUEST * 2_000, 'a written request buffer waits for the next request');

  consumer = kafka.consumer({ groupId: unique('walrelay-request-buffers-test'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const read = new Map<string, string>();
  let duplicates = 0;
  await consumer.run({
    eachMessage: async ({ message }) => {
      const key = message.key?.toString() ?? '';
      if (read.has(key)) duplicates++;
      read.set(key, createHash('sha256').update(message.value ?? Buffer.alloc(0)).digest('hex'));
    },
  });
  await waitFor(`all ${sent.size} records read back (read ${read.size})`, () => read.size >= sent.size, 60_000);
  assert.equal(duplicates, 0);
  assert.equal(read.size, sent.size);
  for (const [key, digest] of sent) assert.equal(read.get(key), digest, `record ${key} read back as sent`);
});
