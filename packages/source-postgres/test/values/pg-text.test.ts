import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '@walrelay/core';
import type { ColumnSpec, ValueKind } from '@walrelay/core';
import {
  DATE_NEG_INFINITY,
  DATE_POS_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  TIMESTAMP_POS_INFINITY,
  daysFromCivil,
  textToValue,
  valueConverter,
} from '../../src/values/pg-text.js';

function col(kind: ValueKind, extra: Partial<ColumnSpec> = {}): ColumnSpec {
  return { name: 'c', kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

function both(spec: ColumnSpec, text: string): unknown {
  const a = textToValue(spec, text);
  const b = valueConverter(spec)(text);
  assert.deepEqual(a, b);
  return a;
}

function rejects(spec: ColumnSpec, text: string, pattern?: RegExp): void {
  for (const f of [() => textToValue(spec, text), () => valueConverter(spec)(text)]) {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof ValueError, `expected ValueError for ${JSON.stringify(text)}, got ${String(e)}`);
      assert.match(e.message, /column "c"/);
      if (pattern) assert.match(e.message, pattern);
      return true;
    });
  }
}

const US = 1_000_000n;

test('boolean', () => {
  assert.equal(both(col('boolean'), 't'), true);
  assert.equal(both(col('boolean'), 'f'), false);
  rejects(col('boolean'), 'yes');
  rejects(col('boolean'), '');
});

test('int16/int32 are numbers, int64 is bigint, all range-checked', () => {
  assert.equal(both(col('int16'), '-32768'), -32768);
  assert.equal(both(col('int16'), '32767'), 32767);
  rejects(col('int16'), '32768', /out of range/);
  assert.equal(both(col('int32'), '-2147483648'), -2147483648);
  assert.equal(both(col('int32'), '2147483647'), 2147483647);
  assert.equal(both(col('int32'), '0'), 0);
  assert.ok(Object.is(both(col('int32'), '-0'), 0));
  rejects(col('int32'), '2147483648');
  for (const bad of ['', '-', '1.0', ' 1', '0x10', '1e3', '+-1', 'abc']) rejects(col('int32'), bad);
  assert.equal(both(col('int64'), '-9223372036854775808'), -9223372036854775808n);
  assert.equal(both(col('int64'), '9223372036854775807'), 9223372036854775807n);
  assert.equal(both(col('int64'), '42'), 42n);
  rejects(col('int64'), '9223372036854775808', /out of range/);
  for (const bad of ['', '-', '0x1f', '1.5', ' 7']) rejects(col('int64'), bad);
});

test('floats: extremes and special values; float4 is exactly the float32', () => {
  assert.equal(both(col('float64'), '1.7976931348623157e+308'), Number.MAX_VALUE);
  assert.equal(both(col('float64'), '5e-324'), 5e-324);
  assert.equal(both(col('float64'), '-2.2250738585072014e-308'), -2.2250738585072014e-308);
  assert.equal(both(col('float64'), '0.1'), 0.1);
  assert.ok(Object.is(both(col('float64'), '-0'), -0));
  assert.ok(Number.isNaN(both(col('float64'), 'NaN')));
  assert.equal(both(col('float64'), 'Infinity'), Infinity);
  assert.equal(both(col('float64'), '-Infinity'), -Infinity);
  assert.equal(both(col('float32'), '3.4028235e+38'), 3.4028234663852886e38);
  assert.equal(both(col('float32'), '1.1'), Math.fround(1.1));
  assert.equal(both(col('float32'), '1e-45'), Math.fround(1e-45));
  assert.ok(Number.isNaN(both(col('float32'), 'NaN')));
  assert.equal(both(col('float32'), '-Infinity'), -Infinity);
  for (const bad of ['', 'inf', '0x10', '1,5', 'nan', '1e']) rejects(col('float64'), bad);
});

test('decimal: canonical string with exactly scale digits; NaN/Infinity rejected', () => {
  const d = col('decimal', { precision: 20, scale: 4, pgType: 'numeric' });
  assert.equal(both(d, '12.5000'), '12.5000');
  assert.equal(both(d, '12.5'), '12.5000');
  assert.equal(both(d, '-12.3400'), '-12.3400');
  assert.equal(both(d, '-0.0001'), '-0.0001');
  assert.equal(both(d, '-0.0000'), '0.0000');
  assert.equal(both(d, '0007.1'), '7.1000');
  assert.equal(both(d, '.5'), '0.5000');
  assert.equal(both(d, '1234567890123456.1234'), '1234567890123456.1234');
  assert.equal(both(d, '12.340000'), '12.3400');
  rejects(d, '12.34567', /fraction digits/);
  rejects(d, '12345678901234567', /does not fit/);
  rejects(d, 'NaN', /cannot be represented as an Avro decimal/);
  rejects(d, 'Infinity', /Avro decimal/);
  rejects(d, '-Infinity', /Avro decimal/);
  for (const bad of ['', '-', '.', '1e5', '1.2.3', ' 1']) rejects(d, bad);
  const d2 = col('decimal', { precision: 5, scale: 2 });
  assert.equal(both(d2, '-0.00'), '0.00');
  assert.equal(both(d2, '-999.99'), '-999.99');
  const d0 = col('decimal', { precision: 3, scale: 0 });
  assert.equal(both(d0, '-12'), '-12');
  assert.equal(both(d0, '0'), '0');
  assert.equal(both(d0, '-0'), '0');
  const d44 = col('decimal', { precision: 4, scale: 4 });
  assert.equal(both(d44, '0.1234'), '0.1234');
  rejects(d44, '1.0000');
});

test('unconstrained numeric keeps the text, including NaN and Infinity', () => {
  const n = col('numeric');
  for (const t of ['0', '-12.000100', '123456789012345678901234567890.123456789', 'NaN', 'Infinity', '-Infinity']) {
    assert.equal(both(n, t), t);
  }
  for (const bad of ['', 'abc', '1e5', 'nan']) rejects(n, bad);
});

test('text-like kinds are the text as is; uuid is lowercased and validated', () => {
  for (const k of ['text', 'json', 'enum', 'interval', 'timetz', 'other'] as const) {
    assert.equal(both(col(k), ''), '');
    assert.equal(both(col(k), ' x "y" ü '), ' x "y" ü ');
  }
  assert.equal(both(col('uuid'), 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  rejects(col('uuid'), 'a0eebc999c0b4ef8bb6d6bb9bd380a11');
  rejects(col('uuid'), 'not-a-uuid');
});

test('bytea hex → Buffer', () => {
  assert.deepEqual(both(col('bytes'), '\\x0a0b'), Buffer.from([10, 11]));
  assert.deepEqual(both(col('bytes'), '\\x'), Buffer.alloc(0));
  assert.deepEqual(both(col('bytes'), '\\xDEADbeef'), Buffer.from('deadbeef', 'hex'));
  for (const bad of ['0a0b', '\\x0', '\\x0g', '\\001', '']) rejects(col('bytes'), bad);
});

test('date → days since 1970-01-01, BC, years beyond 9999, infinity', () => {
  const d = col('date');
  assert.equal(both(d, '1970-01-01'), 0);
  assert.equal(both(d, '1969-12-31'), -1);
  assert.equal(both(d, '2000-03-01'), 11017);
  assert.equal(both(d, '2024-02-29'), 19782);
  assert.equal(both(d, '0001-01-01'), -719162);
  assert.equal(both(d, '0001-12-31 BC'), -719163); // 1 BC = year 0, a leap year
  assert.equal(both(d, '0001-02-29 BC'), daysFromCivil(0, 2, 29));
  assert.equal(both(d, '4714-11-24 BC'), -2440588); // Julian day 0
  assert.equal(both(d, '9999-12-31'), 2932896);
  assert.equal(both(d, '10000-01-01'), 2932897);
  assert.equal(both(d, '5874897-12-31'), 2145042905); // PostgreSQL's last date
  assert.equal(both(d, 'infinity'), DATE_POS_INFINITY);
  assert.equal(both(d, '-infinity'), DATE_NEG_INFINITY);
  for (const bad of ['2023-02-29', '2024-13-01', '2024-00-10', '2024-01-32', '24-01-01', '2024-1-1', '0000-01-01 BC', '2024-01-01 AD', '2024-01-01 ', 'Infinity', '']) {
    rejects(d, bad);
  }
});

test('time → bigint micros since midnight, 24:00:00 allowed', () => {
  const t = col('time');
  assert.equal(both(t, '00:00:00'), 0n);
  assert.equal(both(t, '12:34:56.789'), (12n * 3600n + 34n * 60n + 56n) * US + 789000n);
  assert.equal(both(t, '23:59:59.999999'), 86_400n * US - 1n);
  assert.equal(both(t, '24:00:00'), 86_400n * US);
  assert.equal(both(t, '00:00:00.000001'), 1n);
  for (const bad of ['24:00:00.000001', '25:00:00', '12:60:00', '12:00:60', '12:00', '12:00:00.', '12:00:00.1234567', '12:00:00+00', '']) {
    rejects(t, bad);
  }
});

test('timestamp → bigint micros since epoch, BC, year 10000+, infinity', () => {
  const t = col('timestamp');
  assert.equal(both(t, '1970-01-01 00:00:00'), 0n);
  assert.equal(both(t, '1969-12-31 23:59:59.999999'), -1n);
  assert.equal(both(t, '2024-06-01 12:30:45.123456'), 1717245045123456n);
  assert.equal(both(t, '2262-04-11 23:47:16.854775'), 9223372036854775n); // int64 nanos max, slow path
  assert.equal(both(t, '0001-01-01 00:00:00'), -62135596800n * US);
  assert.equal(both(t, '0044-03-15 12:00:00 BC'), (BigInt(daysFromCivil(-43, 3, 15)) * 86400n + 43200n) * US);
  assert.equal(both(t, '4714-11-24 00:00:00 BC'), -2440588n * 86400n * US);
  assert.equal(both(t, '10000-01-01 00:00:00'), 2932897n * 86400n * US);
  assert.equal(both(t, '294246-12-31 23:59:59.999999'), (BigInt(daysFromCivil(294247, 1, 1)) * 86400n) * US - 1n);
  rejects(t, '294276-12-31 23:59:59.999999', /int64/);
  assert.equal(both(t, 'infinity'), TIMESTAMP_POS_INFINITY);
  assert.equal(both(t, '-infinity'), TIMESTAMP_NEG_INFINITY);
  assert.equal(TIMESTAMP_POS_INFINITY, 2n ** 63n - 1n);
  assert.equal(TIMESTAMP_NEG_INFINITY, -(2n ** 63n));
  for (const bad of ['2024-06-01', '2024-06-01T12:00:00', '2024-06-01 12:00:00+00', '2024-02-30 00:00:00', '2024-06-01 12:00:00 bc', '']) {
    rejects(t, bad);
  }
});

test('timestamptz → UTC micros; any offset normalised', () => {
  const t = col('timestamptz');
  assert.equal(both(t, '1970-01-01 00:00:00+00'), 0n);
  assert.equal(both(t, '2024-06-01 12:30:45.123456+00'), 1717245045123456n);
  assert.equal(both(t, '2024-06-01 18:00:45.123456+05:30'), 1717245045123456n);
  assert.equal(both(t, '2024-06-01 07:30:45.123456-05'), 1717245045123456n);
  assert.equal(both(t, '1850-01-01 00:00:00+05:53:28'), (BigInt(daysFromCivil(1850, 1, 1)) * 86400n - 21208n) * US);
  assert.equal(both(t, '0044-03-15 12:00:00+00 BC'), (BigInt(daysFromCivil(-43, 3, 15)) * 86400n + 43200n) * US);
  assert.equal(both(t, '10000-01-01 00:00:00+00'), 2932897n * 86400n * US);
  assert.equal(both(t, 'infinity'), TIMESTAMP_POS_INFINITY);
  assert.equal(both(t, '-infinity'), TIMESTAMP_NEG_INFINITY);
  for (const bad of ['2024-06-01 12:00:00', '2024-06-01 12:00:00 UTC', '2024-06-01 12:00:00+5', '2024-06-01 12:00:00+05:60', '2024-06-01 12:00:00+00 BC x']) {
    rejects(t, bad);
  }
});

test('arrays: quotes, escapes, NULL, empty, bounds, element kinds', () => {
  const ints = col('array', { element: 'int32', elementPgType: 'int4', pgType: '_int4' });
  assert.deepEqual(both(ints, '{}'), []);
  assert.deepEqual(both(ints, '{1,2,NULL,-3}'), [1, 2, null, -3]);
  assert.deepEqual(both(ints, '[0:2]={1,2,3}'), [1, 2, 3]);
  assert.deepEqual(both(ints, '{ 1 , 2 }'), [1, 2]);
  const texts = col('array', { element: 'text', elementPgType: 'text', pgType: '_text' });
  assert.deepEqual(both(texts, '{a,"b c","NULL",NULL,null,"x \\"q\\" ,y","\\\\","",ü}'), [
    'a',
    'b c',
    'NULL',
    null,
    null,
    'x "q" ,y',
    '\\',
    '',
    'ü',
  ]);
  assert.deepEqual(both(texts, '{"{",",","}"}'), ['{', ',', '}']);
  assert.deepEqual(both(texts, '{a\\,b}'), ['a,b']);
  const big = col('array', { element: 'int64', elementPgType: 'int8' });
  assert.deepEqual(both(big, '{-9223372036854775808,9223372036854775807}'), [-9223372036854775808n, 9223372036854775807n]);
  const bytes = col('array', { element: 'bytes', elementPgType: 'bytea' });
  assert.deepEqual(both(bytes, '{"\\\\x0a0b",NULL}'), [Buffer.from([10, 11]), null]);
  const dates = col('array', { element: 'date', elementPgType: 'date' });
  assert.deepEqual(both(dates, '{1970-01-02,infinity,"0001-12-31 BC"}'), [1, DATE_POS_INFINITY, -719163]);
  const ts = col('array', { element: 'timestamptz', elementPgType: 'timestamptz' });
  assert.deepEqual(both(ts, '{"1970-01-01 00:00:01+00"}'), [US]);
  const decs = col('array', { element: 'decimal', elementPgType: 'numeric', precision: 10, scale: 2 });
  assert.deepEqual(both(decs, '{1.50,NaN,-0.01}'), ['1.50', 'NaN', '-0.01']);
  const boxes = col('array', { element: 'other', elementPgType: 'box', pgType: '_box' });
  assert.deepEqual(both(boxes, '{(1,1),(0,0);(2,2),(1,1)}'), ['(1,1),(0,0)', '(2,2),(1,1)']);
  assert.deepEqual(valueConverter(texts, { delimiter: ';' })('{a,b;c}'), ['a,b', 'c']);
  const uuids = col('array', { element: 'uuid', elementPgType: 'uuid' });
  assert.deepEqual(both(uuids, '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'), ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']);
});

test('arrays: multi-dimensional and malformed text → ValueError naming the column', () => {
  const ints = col('array', { element: 'int32', elementPgType: 'int4' });
  rejects(ints, '{{1,2},{3,4}}', /multi-dimensional arrays are not supported/);
  rejects(ints, '[1:2][1:2]={{1,2},{3,4}}', /multi-dimensional/);
  rejects(ints, '{{}}', /multi-dimensional/);
  for (const bad of ['', '{', '{1,2', '1,2', '{1,,2}', '{1,}', '{"a}', '{1}x', '[0:1]{1,2}', '{a}', '{1"2"}']) {
    rejects(ints, bad);
  }
  const texts = col('array', { element: 'text', elementPgType: 'text' });
  rejects(texts, '{"unterminated}');
  rejects(texts, '{"a"b}');
});

test('long malformed values are shortened in the message', () => {
  const long = 'x'.repeat(10_000);
  assert.throws(
    () => textToValue(col('int32'), long),
    (e: unknown) => e instanceof ValueError && e.message.length < 300 && /10000 chars/.test(e.message),
  );
});

test('days-from-civil agrees with Date.UTC over a wide range', () => {
  for (let y = -3000; y <= 12000; y += 7) {
    for (const [m, d] of [
      [1, 1],
      [2, 28],
      [3, 1],
      [12, 31],
    ] as const) {
      const ms = Date.UTC(2000, m - 1, d) + 0; // anchor to avoid the 0-99 year quirk
      const dt = new Date(ms);
      dt.setUTCFullYear(y, m - 1, d);
      assert.equal(daysFromCivil(y, m, d), dt.getTime() / 86_400_000, `${y}-${m}-${d}`);
    }
  }
});
