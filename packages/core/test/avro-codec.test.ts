import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  avroType,
  bigIntToBytes,
  bytesToBigInt,
  decodeAvro,
  encodeAvro,
  formatUnscaled,
  parseUnscaled,
  frame,
  unframe,
  DecodeError,
  ValueError,
} from '../src/index.js';

test('long fields are bigint, also beyond 2^53 and at the int64 extremes', () => {
  const type = avroType({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }, { name: 'b', type: ['null', 'long'] }] });
  for (const v of [0n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
    const back = decodeAvro(type, encodeAvro(type, { a: v, b: v })) as { a: bigint; b: bigint };
    assert.equal(back.a, v);
    assert.equal(back.b, v);
  }
});

test('decimal logical type is an exact string', () => {
  const type = avroType({ type: 'record', name: 'D', fields: [{ name: 'd', type: { type: 'bytes', logicalType: 'decimal', precision: 30, scale: 4 } }] });
  for (const [input, expected] of [
    ['12.5', '12.5000'],
    ['-0.0001', '-0.0001'],
    ['12345678901234567890123456.1234', '12345678901234567890123456.1234'],
    ['0', '0.0000'],
    ['-128', '-128.0000'],
  ] as const) {
    const back = decodeAvro(type, encodeAvro(type, { d: input })) as { d: string };
    assert.equal(back.d, expected);
  }
  assert.throws(() => encodeAvro(type, { d: '1.00001' }), ValueError);
  assert.throws(() => encodeAvro(type, { d: 'NaN' }), ValueError);
});

test('two-complement helpers agree at byte boundaries', () => {
  for (const n of [0n, 1n, -1n, 127n, 128n, -128n, -129n, 255n, 256n, -(2n ** 100n), 2n ** 100n]) {
    assert.equal(bytesToBigInt(bigIntToBytes(n)), n);
  }
  assert.equal(formatUnscaled(parseUnscaled('-3.14', 2, 3), 2), '-3.14');
  assert.throws(() => parseUnscaled('1234.5', 1, 4), ValueError);
});

test('Confluent framing round-trips and rejects junk with a DecodeError', () => {
  const f = frame(258, Buffer.from([1, 2, 3]));
  assert.deepEqual([...f.subarray(0, 5)], [0, 0, 0, 1, 2]);
  const u = unframe(f);
  assert.equal(u.schemaId, 258);
  assert.deepEqual([...u.payload], [1, 2, 3]);
  assert.throws(() => unframe(Buffer.from([1, 0, 0, 0, 1, 9])), DecodeError);
  assert.throws(() => unframe(Buffer.from([0, 0])), DecodeError);
});

test('a truncated payload is a DecodeError, not a RangeError', () => {
  const type = avroType({ type: 'record', name: 'S', fields: [{ name: 's', type: 'string' }] });
  const bytes = encodeAvro(type, { s: 'hello world' });
  assert.throws(() => decodeAvro(type, bytes.subarray(0, 4)), DecodeError);
});

test('longs with a logical type (timestamp-micros, time-micros) are bigint too', () => {
  const type = avroType({
    type: 'record',
    name: 'T',
    fields: [
      { name: 'ts', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }] },
      { name: 't', type: { type: 'long', logicalType: 'time-micros' } },
      { name: 'l', type: { type: 'long', logicalType: 'local-timestamp-micros' } },
    ],
  });
  const v = { ts: 9_223_372_036_854_775_807n, t: 86_400_000_000n, l: -62_135_596_800_000_000n };
  assert.deepEqual({ ...(decodeAvro(type, encodeAvro(type, v)) as object) }, v);
  assert.equal(avroType('float').typeName, 'float');
});
