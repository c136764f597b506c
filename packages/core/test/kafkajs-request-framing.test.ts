import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { kafkaProduceEncoderPatched, kafkaRequestFramingPatched, REQUEST_HEADROOM } from '../src/index.js';
import { kafkajsOriginal } from './kafkajs-original.js';

const require = createRequire(import.meta.url);
const REQUEST = require.resolve('kafkajs/src/protocol/request.js');
const PRODUCE = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
type Encoded = { buf: Buffer; offset: number; buffer: Buffer };
type Frame = (args: { correlationId: number; clientId: string | null | undefined; request: { apiKey: number; apiVersion: number; encode: () => Promise<Encoded> } }) => Promise<Encoded>;

test('requests are framed exactly as kafkajs frames them, for any body and client id', async () => {
  assert.equal(kafkaRequestFramingPatched, true);
  const ours = require(REQUEST) as Frame & { walrelay?: boolean };
  assert.equal(ours.walrelay, true, 'kafkajs loads the installed framing');
  const original = kafkajsOriginal<Frame>(REQUEST);
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => Encoded & { writeInt32(v: number): Encoded; writeBuffer(b: Buffer): Encoded };
  const clientIds = [null, undefined, '', 'walrelay-source', 'é-client', 'x'.repeat(300)];
  for (const clientId of clientIds) {
    for (const size of [0, 1, 511, 512, 70_000]) {
      const body = randomBytes(size);
      const encode = async (): Promise<Encoded> => new Encoder().writeBuffer(body);
      const args = { correlationId: 123_456 + size, clientId, request: { apiKey: 0, apiVersion: 7, encode } };
      const a = (await ours(args)).buffer;
      const b = (await original(args)).buffer;
      assert.ok(a.equals(b), `client id ${String(clientId).slice(0, 20)}, body ${size} bytes`);
    }
  }
});

test('a produce request is framed in the headroom its encoder reserved, with the same bytes as kafkajs', async () => {
  assert.equal(kafkaProduceEncoderPatched, true);
  const frame = require(REQUEST) as Frame;
  const produce = require(PRODUCE) as (args: Record<string, unknown>) => { apiKey: number; apiVersion: number; encode: () => Promise<Encoded & { walrelayFrame?: { whole: Buffer; bodyStart: number } }> };
  const originalFrame = kafkajsOriginal<Frame>(REQUEST);
  const originalProduce = kafkajsOriginal<typeof produce>(PRODUCE);
  const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
  const realNow = Date.now;
  Date.now = () => 1_764_000_000_123;
  try {
    const args = {
      acks: -1,
      timeout: 30_000,
      transactionalId: 'walrelay-source-x',
      producerId: Long.fromValue(4711),
      producerEpoch: 3,
      topicData: [{ topic: 'walrelay.public.wide', partitions: [0, 1, 2].map((p) => ({ partition: p, firstSequence: 10 * p, messages: Array.from({ length: 50 }, (_, i) => ({ key: randomBytes(8), value: randomBytes(2000 + i) })) })) }],
    };
    const request = produce(args);
    const body = await request.encode();
    assert.ok(body.walrelayFrame, 'the produce encoder reserved headroom');
    assert.equal(body.walrelayFrame.bodyStart, REQUEST_HEADROOM);
    // The body alone is what kafkajs' own encoder writes.
    assert.ok(body.buffer.equals((await originalProduce(args).encode()).buffer));
    for (const clientId of ['walrelay-source', null, 'y'.repeat(REQUEST_HEADROOM)]) {
      const ours = (await frame({ correlationId: 9, clientId, request: { apiKey: request.apiKey, apiVersion: request.apiVersion, encode: async () => body } })).buffer;
      const theirs = (await originalFrame({ correlationId: 9, clientId, request: { apiKey: request.apiKey, apiVersion: request.apiVersion, encode: () => originalProduce(args).encode() } })).buffer;
      assert.ok(ours.equals(theirs), `client id ${String(clientId).slice(0, 20)}`);
      // In place when the header fits the headroom: the frame is a view of the body's own buffer.
      assert.equal(ours.buffer === body.walrelayFrame.whole.buffer, clientId !== 'y'.repeat(REQUEST_HEADROOM), 'framed in place only when the header fits');
    }
  } finally {
    Date.now = realNow;
  }
});
