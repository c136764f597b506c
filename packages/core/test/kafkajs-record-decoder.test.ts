import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { kafkaRecordDecoderPatched } from '../src/index.js';
import { kafkajsOriginal } from './kafkajs-original.js';

const require = createRequire(import.meta.url);
const RECORD_DECODER = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
type KafkaLong = { toString(): string };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): KafkaLong; fromString(s: string): KafkaLong };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { offset: number; buffer: Buffer; readVarIntBytes(): Buffer };
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: {
  offsetDelta?: number;
  timestampDelta?: KafkaLong | number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[]>;
}) => { buffer: Buffer };
const { LOG_APPEND_TIME, CREATE_TIME } = require('kafkajs/src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number; CREATE_TIME: number };
type Decode = (d: unknown, context?: Record<string, unknown>) => Record<string, unknown>;

/** One record's bytes (after its length varint, which the batch decoder reads) decoded by `decode`, and where it stopped. */
function decodeWith(decode: Decode, bytes: Buffer, context: Record<string, unknown>): { record: Record<string, unknown>; end: number } {
  const outer = new Decoder(bytes);
  const decoder = new Decoder(outer.readVarIntBytes());
  const record = decode(decoder, context);
  return { record, end: decoder.offset };
}

test('fetched records decode exactly as kafkajs decodes them: offsets, timestamps, keys, values, headers', () => {
  assert.equal(kafkaRecordDecoderPatched, true);
  const ours = require(RECORD_DECODER) as Decode & { walrelay?: boolean };
  assert.equal(ours.walrelay, true, 'kafkajs loads the installed record decoder');
  const original = kafkajsOriginal<Decode>(RECORD_DECODER);

  const bases = ['0', '41', '1764000000123', '9007199254740000', '9007199254740991', '9007199254740992', '9223372036854775000', '-1'];
  const timestampDeltas: (number | KafkaLong)[] = [0, 1, -1, 63, -64, 64, 8191, 2 ** 40, -(2 ** 40), 2 ** 47 - 1, -(2 ** 47), 2 ** 48, Long.fromString('281474976710656000'), Long.fromString('-9000000000000000000')];
  const offsetDeltas = [0, 1, 127, 128, 4999, 2 ** 31 - 1];
  const bodies: { key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer | string | (Buffer | string)[]> }[] = [
    { key: randomBytes(8), value: randomBytes(300) },
    { key: null, value: null },
    { key: Buffer.alloc(0), value: randomBytes(70_000) },
    { key: randomBytes(3), value: randomBytes(5), headers: { 'walrelay.truncate': '3', 'walrelay.truncate.id': 'abc', é: ['x', 'y', Buffer.from([0, 1])] } },
  ];
  let compared = 0;
  for (const base of bases) {
    for (const ts of timestampDeltas) {
      for (const od of offsetDeltas) {
        for (const body of bodies) {
          const bytes = encodeRecord({ offsetDelta: od, timestampDelta: ts, ...body }).buffer;
          for (const timestampType of [CREATE_TIME, LOG_APPEND_TIME]) {
            const context = { firstOffset: base, firstTimestamp: base, magicByte: 2, isControlBatch: od === 1, timestampType, maxTimestamp: '1764000009999' };
            const a = decodeWith(ours, bytes, context);
            const b = decodeWith(original, bytes, context);
            assert.deepEqual(a.record, b.record, `base ${base}, timestamp delta ${String(ts)}, offset delta ${od}`);
            assert.equal(a.end, b.end, 'the decoder stops where kafkajs stops');
            compared++;
          }
        }
      }
    }
  }
  assert.equal(compared, bases.length * timestampDeltas.length * offsetDeltas.length * bodies.length * 2);
});

test('the exact-number path gives the sum a 64-bit addition gives, and hands anything past 2^53 to kafkajs', () => {
  const ours = require(RECORD_DECODER) as Decode;
  const at = (base: string, delta: number): string => {
    const bytes = encodeRecord({ offsetDelta: delta, timestampDelta: 0, key: null, value: null }).buffer;
    return decodeWith(ours, bytes, { firstOffset: base, firstTimestamp: '0', timestampType: CREATE_TIME }).record.offset as string;
  };
  assert.equal(at('9007199254740990', 1), '9007199254740991');
  assert.equal(at('9007199254740991', 1), '9007199254740992');
  assert.equal(at('9007199254740991', 2), '9007199254740993', 'past 2^53 a double would round; the Long path does not');
  assert.equal(at('9223372036854775000', 7), '9223372036854775007');
  // Alternating batches (the base cache holds one base per kind) stay exact.
  assert.equal(at('100', 5), '105');
  assert.equal(at('9007199254740995', 5), '9007199254741000');
  assert.equal(at('100', 6), '106');
});
