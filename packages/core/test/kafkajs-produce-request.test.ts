import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createHash, randomBytes } from 'node:crypto';
import { crc32c, kafkaCompressionType, kafkaProduceEncoderPatched, zstdCodecRegistered } from '../src/index.js';
import { kafkajsOriginal } from './kafkajs-original.js';

const require = createRequire(import.meta.url);
const FILE = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
type Factory = (args: Record<string, unknown>) => { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> };

test('CRC32C (the one the encoder uses: the CPU’s, or slicing-by-8) equals kafkajs’ byte-at-a-time CRC32C and the standard check value', () => {
  const reference = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  for (const n of [0, 1, 7, 8, 9, 63, 64, 1000, 65_537]) {
    const b = randomBytes(n);
    assert.equal(crc32c(b), reference(b), `length ${n}`);
  }
  const b = randomBytes(100);
  assert.equal(crc32c(b, 13, 77), reference(b.subarray(13, 77)));
});

test('the produce request encoder writes exactly the bytes kafkajs writes (keys, values, tombstones, headers, several topics and partitions)', async () => {
  assert.equal(kafkaProduceEncoderPatched, true);
  const ours = require(FILE) as Factory & { walrelay?: boolean };
  assert.equal(ours.walrelay, true, 'kafkajs loads the installed encoder');
  const original = kafkajsOriginal<Factory>(FILE);
  const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
  const realNow = Date.now;
  Date.now = () => 1_764_000_000_123;
  try {
    let seed = 1;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const message = (i: number): Record<string, unknown> => {
      const kind = rnd(6);
      return {
        key: kind === 0 ? null : randomBytes(rnd(40)),
        value: kind === 1 ? null : kind === 2 ? 'é text value' : randomBytes(rnd(kind === 3 ? 20_000 : 300)),
        ...(kind === 4 ? { headers: { 'walrelay.truncate': String(i), 'walrelay.id': Buffer.from('abc'), multi: ['a', Buffer.from('b')] } } : {}),
        ...(kind === 5 ? { headers: {} } : {}),
      };
    };
    const cases: Record<string, unknown>[] = [
      { acks: -1, timeout: 30_000, transactionalId: 'walrelay-source-x', producerId: Long.fromValue(4711), producerEpoch: 3, topicData: [] },
      {
        acks: -1,
        timeout: 30_000,
        transactionalId: 'tx-é',
        producerId: Long.fromValue('9007199254740993'),
        producerEpoch: 12,
        topicData: [
          { topic: 'walrelay.public.items', partitions: [0, 1, 2].map((p) => ({ partition: p, firstSequence: 100 * p, messages: Array.from({ length: 1 + rnd(400) }, (_, i) => message(i)) })) },
          { topic: 'walrelay.__checkpoints', partitions: [{ partition: 0, firstSequence: 7, messages: [message(0)] }] },
        ],
      },
      { acks: 1, timeout: 5_000, transactionalId: null, producerId: Long.fromValue(-1), producerEpoch: 0, topicData: [{ topic: 'dlq', partitions: [{ partition: 0, messages: [message(1), message(2)] }] }] },
      { acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 5, messages: Array.from({ length: 300 }, (_, i) => ({ key: Buffer.from([i % 256]), value: randomBytes(200) })) }] }] },
    ];
    for (const args of cases) {
      const a = (await ours(args).encode()).buffer;
      const b = (await original(args).encode()).buffer;
      assert.equal(a.length, b.length);
      assert.ok(a.equals(b), 'identical bytes');
    }
    // What the fast path does not take goes to kafkajs' own encoder (same bytes by construction).
    const stamped = { acks: -1, timeout: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: null, value: Buffer.from('v'), timestamp: 5 }] }] }] };
    assert.ok((await ours(stamped).encode()).buffer.equals((await original(stamped).encode()).buffer));
  } finally {
    Date.now = realNow;
  }
});

test('compressed produce requests (gzip, zstd) are the bytes kafkajs writes with the same codec, and the records come back out', async () => {
  assert.equal(zstdCodecRegistered, true, 'node has zstd: walrelay registered it with kafkajs');
  const ours = require(FILE) as Factory;
  const original = kafkajsOriginal<Factory>(FILE);
  const { lookupCodec } = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodec(t: number): { decompress(b: Buffer): Promise<Buffer> } };
  const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
  const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{ records: { key: Buffer | null; value: Buffer | null; offset: string }[] }>;
  const realNow = Date.now;
  Date.now = () => 1_764_000_000_123;
  try {
    // Compressible values (repeated text) and incompressible ones, tombstones and headers.
    const messages = (p: number): Record<string, unknown>[] =>
      Array.from({ length: 200 + 50 * p }, (_, i) => ({
        key: Buffer.from(`key-${p}-${i}`),
        value: i % 17 === 0 ? null : i % 5 === 0 ? createHash('sha512').update(`${p}/${i}`).digest() : Buffer.from(`{"id":${i},"name":"row ${i}","pad":"${'x'.repeat(i % 300)}"}`),
        ...(i === 3 ? { headers: { 'walrelay.truncate': '3' } } : {}),
      }));
    for (const compression of [kafkaCompressionType('gzip'), kafkaCompressionType('zstd')]) {
      const args = {
        acks: -1,
        timeout: 30_000,
        compression,
        transactionalId: 'walrelay-source-z',
        producerId: Long.fromValue(42),
        producerEpoch: 1,
        topicData: [
          { topic: 'walrelay.public.items', partitions: [0, 1, 2].map((p) => ({ partition: p, firstSequence: 10 * p, messages: messages(p) })) },
          { topic: 'walrelay.__checkpoints', partitions: [{ partition: 0, firstSequence: 1, messages: messages(3).slice(0, 1) }] },
        ],
      };
      const a = (await ours(args).encode()).buffer;
      const b = (await original(args).encode()).buffer;
      assert.ok(a.equals(b), `codec ${compression}: identical bytes`);
      const plain = (await ours({ ...args, compression: 0 }).encode()).buffer;
      assert.ok(a.length < plain.length / 2, `codec ${compression}: ${a.length} bytes compressed vs ${plain.length}`);
      // Read the first partition's batch back through kafkajs' decoder (it decompresses with the registered codec).
      assert.ok(lookupCodec(compression), 'kafkajs finds a codec to decompress with');
      const topicAt = 2 + a.readInt16BE(0) + 2 + 4 + 4; // after the transactional id, acks, timeout and topic count
      const tl = a.readInt16BE(topicAt);
      assert.equal(a.subarray(topicAt + 2, topicAt + 2 + tl).toString(), 'walrelay.public.items');
      const batchAt = topicAt + 2 + tl + 4 + 4 + 4; // topic, partition count, partition id, record set size
      const batch = await decodeRecordBatch(new Decoder(a.subarray(batchAt)));
      const want = messages(0);
      assert.equal(batch.records.length, want.length);
      batch.records.forEach((r, i) => {
        assert.deepEqual(r.key, want[i]!.key);
        assert.deepEqual(r.value, want[i]!.value);
        assert.equal(r.offset, String(i));
      });
    }
  } finally {
    Date.now = realNow;
  }
});
