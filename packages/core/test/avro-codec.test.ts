import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  avroType,
  bigIntToBytes,
  bytesToBigInt,
  decodeAvro,
  decodeAvroAt,
  encodeAvro,
  encodeFramed,
  formatUnscaled,
  parseUnscaled,
  frame,
  unframe,
  schemaIdOf,
  DecodeError,
  ValueError,
} from '../src/index.js';
import { smallUnscaled } from '../src/avro/codec.js';

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

test('a framed payload decoded in place equals the payload decoded alone; truncated or trailing bytes are refused the same way', () => {
  const type = avroType({ type: 'record', name: 'S', fields: [{ name: 's', type: 'string' }, { name: 'n', type: 'long' }] });
  const framed = encodeFramed(type, 7, { s: 'hello world', n: 2n ** 60n });
  assert.equal(schemaIdOf(framed), 7);
  assert.deepEqual(decodeAvroAt(type, framed, 5), decodeAvro(type, unframe(framed).payload));
  assert.throws(() => decodeAvroAt(type, framed.subarray(0, framed.length - 2), 5), (e: unknown) => e instanceof DecodeError && /truncated buffer/.test(e.message));
  assert.throws(() => decodeAvroAt(type, Buffer.concat([framed, Buffer.from([0])]), 5), (e: unknown) => e instanceof DecodeError && /trailing data/.test(e.message));
  assert.throws(() => decodeAvro(type, Buffer.concat([unframe(framed).payload, Buffer.from([0])])), (e: unknown) => e instanceof DecodeError && /trailing data/.test(e.message));
  assert.throws(() => schemaIdOf(Buffer.from([1, 0, 0, 0, 1, 9])), DecodeError);
  assert.throws(() => schemaIdOf(Buffer.from([0, 0])), DecodeError);
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

/** Avro's zigzag varint of a bigint, written the plain way (the reference the fast writer must match byte for byte). */
function referenceLong(n: bigint): Buffer {
  let z = (n << 1n) ^ (n >> 63n);
  z = BigInt.asUintN(64, z);
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

test('the long codec writes and reads the exact zigzag varint at every magnitude (fast and bigint paths)', () => {
  const type = avroType('long');
  const values: bigint[] = [0n, 1n, -1n, 63n, 64n, -64n, -65n, 2n ** 31n, -(2n ** 31n), 2n ** 63n - 1n, -(2n ** 63n)];
  for (let bits = 1n; bits < 64n; bits++) {
    const p = 2n ** bits;
    values.push(p - 1n, p, p + 1n, -p, -p - 1n, -p + 1n);
  }
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const hi = BigInt(seed) << BigInt(seed % 33);
    values.push(BigInt.asIntN(64, hi * 2654435761n + BigInt(i)));
  }
  for (const v of values) {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) continue;
    const bytes = encodeAvro(type, v);
    assert.deepEqual(bytes, referenceLong(v), `encoding of ${v}`);
    assert.equal(decodeAvro(type, bytes), v, `decoding of ${v}`);
    // Into a buffer too small: nothing written past its end, and the count of missing bytes
    // returned (the caller grows it and writes again), as avsc's writers do.
    for (let size = 0; size <= bytes.length; size++) {
      const outer = Buffer.alloc(size + 2, 0xee);
      const into = outer.subarray(1, size + 1);
      const end = type.encode(v, into, 0);
      if (size === bytes.length) {
        assert.equal(end, size, `${v} into ${size} bytes`);
        assert.deepEqual(into, bytes);
      } else {
        assert.equal(end, size - bytes.length, `${v} into ${size} bytes`);
      }
      assert.equal(outer[size + 1], 0xee, `${v}: the byte after a ${size}-byte buffer was written`);
    }
  }
  assert.throws(() => encodeAvro(type, 2n ** 63n), ValueError);
  assert.throws(() => encodeAvro(type, 5), ValueError);
  assert.throws(() => decodeAvro(type, Buffer.from([0xff, 0xff])), DecodeError);
});

test('decimal bytes are minimal two-complement at every length (fast and bigint paths agree with the reference)', () => {
  const reference = (n: bigint): Buffer => {
    const bytes: number[] = [];
    let v = n;
    for (;;) {
      const byte = Number(v & 0xffn);
      bytes.unshift(byte);
      v >>= 8n;
      if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
    }
    return Buffer.from(bytes);
  };
  for (let bits = 0n; bits < 70n; bits++) {
    const p = 2n ** bits;
    for (const v of [p - 1n, p, p + 1n, -p, -p - 1n, -p + 1n]) {
      assert.deepEqual(bigIntToBytes(v), reference(v), `bytes of ${v}`);
      assert.equal(bytesToBigInt(reference(v)), v, `value of ${v}`);
    }
  }
});

test('nullable unions write the same bytes as avsc, refuse what their branch cannot carry, and frame in one buffer', async () => {
  const avsc = (await import('avsc')).default;
  const schema = {
    type: 'record',
    name: 'U',
    fields: [
      { name: 's', type: ['null', 'string'] },
      { name: 'r', type: ['string', 'null'] },
      { name: 'i', type: ['null', 'int'] },
      { name: 'd', type: ['null', 'double'] },
      { name: 'b', type: ['null', 'bytes'] },
      { name: 'a', type: ['null', { type: 'array', items: ['null', 'string'] }] },
      { name: 'n', type: ['null', { type: 'record', name: 'N', fields: [{ name: 'x', type: ['null', 'boolean'] }] }] },
      { name: 'n2', type: ['null', 'N'] },
    ],
  };
  const ours = avroType(schema);
  const plain = avsc.Type.forSchema(schema as never, { wrapUnions: false } as never);
  const values = [
    { s: null, r: null, i: null, d: null, b: null, a: null, n: null, n2: null },
    { s: 'é', r: '', i: -5, d: 1.5, b: Buffer.from([1, 2]), a: ['x', null], n: { x: true }, n2: { x: null } },
    { s: 'x'.repeat(200_000), r: 'y', i: 2 ** 31 - 1, d: -0, b: Buffer.alloc(0), a: [], n: { x: false }, n2: null },
  ];
  for (const v of values) {
    assert.deepEqual(encodeAvro(ours, v), plain.toBuffer(v));
    const framed = encodeFramed(ours, 42, v);
    assert.deepEqual(framed, frame(42, plain.toBuffer(v)));
    assert.deepEqual(unframe(framed).payload, plain.toBuffer(v));
  }
  // A value its branch cannot carry is still refused, naming the field.
  assert.throws(() => encodeAvro(ours, { ...values[0], i: 'seven' }), (e: unknown) => e instanceof ValueError && /\bi\b/.test(e.message));
  assert.throws(() => encodeFramed(ours, 1, { ...values[0], s: undefined }), ValueError);
  // Unions of our long and decimal: exact round trip, and a bad decimal is a ValueError naming it.
  const logical = avroType({
    type: 'record',
    name: 'L',
    fields: [
      { name: 'l', type: ['null', 'long'] },
      { name: 'm', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 }] },
    ],
  });
  for (const v of [{ l: null, m: null }, { l: -(2n ** 63n), m: '-9999999999.99' }, { l: 2n ** 62n, m: '0.01' }]) {
    assert.deepEqual({ ...(decodeAvro(logical, encodeFramed(logical, 7, v).subarray(5)) as object) }, v);
  }
  assert.throws(() => encodeFramed(logical, 7, { l: null, m: '1.234' }), (e: unknown) => e instanceof ValueError && /\bm\b/.test(e.message));
  assert.throws(() => encodeFramed(logical, 7, { l: 5, m: null }), (e: unknown) => e instanceof ValueError && /\bl\b/.test(e.message));
});

test('small decimals: the direct writer agrees with the general path on every text, valid or not (property)', () => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const digits = (n: number): string => Array.from({ length: n }, () => String(rnd(10))).join('');
  const texts = ['0', '-0', '-0.00', '+1', '.5', '5.', '.', '-', '', ' 1', '1 ', '1e3', 'NaN', '00012.3400', '99999999999999', '100000000000000', '-99999999999999', '0.00000000000001', '1.2.3', '--1', '+-1'];
  for (let i = 0; i < 20_000; i++) {
    const sign = ['', '-', '+'][rnd(3)]!;
    const int = rnd(8) === 0 ? '' : digits(rnd(17));
    const frac = rnd(3) === 0 ? '' : `.${digits(rnd(8))}`;
    texts.push(`${sign}${int}${frac}`);
  }
  let direct = 0;
  let valid = 0;
  for (const [precision, scale] of [[0, 0], [12, 2], [14, 4], [15, 0], [30, 6], [5, 5], [3, 0]] as const) {
    const type = avroType({ type: 'record', name: 'D', fields: [{ name: 'd', type: ['null', { type: 'bytes', logicalType: 'decimal', precision, scale }] }] });
    for (const text of texts) {
      let expected: bigint | Error;
      try {
        expected = parseUnscaled(text, scale, precision);
      } catch (e) {
        expected = e as Error;
      }
      const small = smallUnscaled(text, scale, precision);
      if (!(expected instanceof Error)) valid++;
      if (small !== undefined) {
        direct++;
        assert.ok(!(expected instanceof Error), `${text} (${precision},${scale}): direct path took a value the general path refuses`);
        assert.equal(BigInt(small), expected, `${text} (${precision},${scale})`);
      }
      if (expected instanceof Error) {
        assert.throws(() => encodeAvro(type, { d: text }), ValueError, `${text} (${precision},${scale}) must be refused`);
      } else {
        // The bytes avsc would write: the union branch, the length, the minimal two's complement.
        const bytes = bigIntToBytes(expected);
        const zigzag = (n: number): number[] => [n * 2];
        assert.deepEqual([...encodeAvro(type, { d: text })], [2, ...zigzag(bytes.length), ...bytes], `${text} (${precision},${scale})`);
      }
    }
  }
  // The direct path is the common one (short texts), not a branch the property never reaches.
  assert.ok(direct > valid / 3, `direct path answered ${direct} of ${valid} valid texts`);
});

test("strings are written as avsc writes them: short ASCII copied directly, anything else by avsc's writer", async () => {
  const avsc = (await import('avsc')).default;
  const plain = avsc.Type.forSchema('string');
  const ours = avroType('string');
  const nullable = avroType(['null', 'string']);
  const withAttributes = avroType({ type: 'string', 'connect.name': 'io.debezium.data.Json' });
  const samples = ['', 'a', 'postgresql', '["22817720","22817888"]', 'x'.repeat(63), 'x'.repeat(64), 'y'.repeat(65), 'ünïcode', 'ascii then é', '✓', '😀 surrogate pair', 'a\u0000b', '\u007f', '\u0080'];
  for (let n = 0; n < 70; n++) samples.push(Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7 + n) % 95))).join(''));
  for (const s of samples) {
    const expected = plain.toBuffer(s);
    assert.deepEqual(encodeAvro(ours, s), expected, JSON.stringify(s));
    assert.deepEqual(encodeAvro(withAttributes, s), expected, JSON.stringify(s));
    assert.deepEqual(encodeAvro(nullable, s), Buffer.concat([Buffer.from([2]), expected]), JSON.stringify(s));
    assert.equal(decodeAvro(ours, expected), s);
    assert.deepEqual(encodeFramed(ours, 9, s).subarray(5), expected);
    // Into a buffer too small: the same count of missing bytes (the caller grows it and writes again).
    for (const size of [0, 1, 4, expected.length - 1, expected.length]) {
      if (size < 0) continue;
      const a = Buffer.alloc(size);
      const b = Buffer.alloc(size);
      assert.equal(ours.encode(s, a, 0), plain.encode(s, b, 0), `${JSON.stringify(s)} into ${size} bytes`);
      if (size === expected.length) assert.deepEqual(a, b);
    }
  }
  assert.throws(() => encodeAvro(ours, 42), (e: unknown) => e instanceof ValueError && /string/.test(e.message));
  assert.throws(() => encodeAvro(ours, undefined), ValueError);
});

test('strings are read as avsc reads them: short ASCII ones through the table of short strings, whatever was read before', async () => {
  const avsc = (await import('avsc')).default;
  const plain = avsc.Type.forSchema('string');
  const ours = avroType('string');
  const record = avroType({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: ['null', 'string'] }] });
  const samples = ['', 'c', 'u', 'false', 'public', 'x'.repeat(24), 'x'.repeat(25), 'ünïcode', 'é', '\u007f', '\u0080', 'a\u0000b', '😀'];
  // Many distinct short strings: slots are shared (1,024 of them), so hits, misses and
  // overwritten slots all occur; each read must still be exactly the bytes' string.
  for (let n = 0; n < 5000; n++) samples.push(`k${n.toString(36)}`.padEnd(1 + (n % 24), String.fromCharCode(33 + (n % 90))));
  for (let round = 0; round < 3; round++) {
    for (const s of round === 1 ? [...samples].reverse() : samples) {
      const bytes = plain.toBuffer(s);
      assert.equal(decodeAvro(ours, bytes), plain.fromBuffer(bytes), JSON.stringify(s));
      const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7, 0xff]), bytes, Buffer.from([2]), bytes]);
      assert.deepEqual({ ...(decodeAvroAt(record, framed, 6) as object) }, { a: s, b: s }, JSON.stringify(s));
    }
  }
  // Truncated: the declared length runs past the end, refused as avsc refuses it.
  const truncated = plain.toBuffer('abcdef').subarray(0, 4);
  assert.throws(() => decodeAvro(ours, truncated), DecodeError);
});
