import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assignFieldNames, avroType, kindOfPgType, unframe, type ColumnSpec } from '@walrelay/core';
import { deriveDebeziumSchemas } from '../../src/debezium-format/connect-schema.js';
import { connectValue } from '../../src/debezium-format/connect-values.js';
import { textToValue } from '../../src/values/pg-text.js';

/**
 * format debezium against what a real Debezium 3.6.1 wrote for the same tables (the sink's
 * fixtures, captured by test/debezium/capture-fixtures.ts with the connector's defaults):
 * the schemas field by field (names, types, Connect annotations; namespaces are the topic's),
 * and the values of the row Debezium captured, converted from PostgreSQL's text as the source does.
 */
const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../sink/test/debezium/fixtures/postgres-defaults.json', import.meta.url)), 'utf8'),
) as { schema: string; schemas: Record<string, string>; records: { topic: string; key: string | null; value: string | null }[] };

type Col = [name: string, pgType: string, typmod?: number, extra?: Partial<ColumnSpec>];

function spec([name, pgType, typmod = -1, extra = {}]: Col, key: number | null): ColumnSpec {
  const isArray = pgType.startsWith('_');
  const base = isArray ? pgType.slice(1) : pgType;
  const k = kindOfPgType(base, typmod, extra.enumLabels ? 'E' : undefined);
  if (isArray) return { name, pgType, typmod, nullable: key === null, key, kind: 'array', element: k.kind, elementPgType: base, ...extra };
  return { name, pgType, typmod, nullable: key === null, key, ...k, ...extra };
}

// The fixture's `types` table (see capture-fixtures.ts), typmods as PostgreSQL stores them.
const TYPES: Col[] = [
  ['id', 'int8'], ['i2', 'int2'], ['i4', 'int4'], ['name', 'text'], ['v', 'varchar', 24], ['c', 'bpchar', 7],
  ['price', 'numeric', ((12 << 16) | 3) + 4], ['n', 'numeric'], ['f4', 'float4'], ['f8', 'float8'], ['flag', 'bool'],
  ['born', 'date'], ['t', 'time'], ['t3', 'time', 3], ['tz', 'timetz'], ['at', 'timestamptz'], ['local', 'timestamp'], ['local3', 'timestamp', 3],
  ['tags', '_text'], ['ints', '_int4'], ['doc', 'jsonb'], ['js', 'json'], ['uid', 'uuid'], ['bin', 'bytea'],
  ['mood', 'mood', -1, { enumLabels: ['sad', 'ok', 'happy'] }], ['dur', 'interval'], ['b1', 'bit', 1], ['b8', 'bit', 8], ['vb', 'varbit', 16],
  ['x', 'xml'], ['addr', 'inet'], ['cash', 'money'], ['big', 'text'],
];

function shapeOf(cols: Col[], keys: string[]): { schema: string; table: string; columns: ReturnType<typeof assignFieldNames> } {
  return { schema: fixture.schema, table: 'types', columns: assignFieldNames(cols.map((c) => spec(c, keys.includes(c[0]) ? keys.indexOf(c[0]) + 1 : null))) };
}

/** The fixture's schema of a subject, by the id its first record of that topic carries. */
function fixtureSchemas(table: string): { key: unknown; value: unknown; topic: string } {
  const r = fixture.records.find((x) => x.topic.endsWith(`.${table}`) && x.key && x.value);
  assert.ok(r, `a fixture record of ${table}`);
  const k = unframe(Buffer.from(r.key as string, 'base64')).schemaId;
  const v = unframe(Buffer.from(r.value as string, 'base64')).schemaId;
  return { key: JSON.parse(fixture.schemas[k] as string), value: JSON.parse(fixture.schemas[v] as string), topic: r.topic };
}

/** Field-by-field comparison with a path in each message. */
function sameSchema(ours: unknown, theirs: unknown, path: string): void {
  if (Array.isArray(theirs)) {
    assert.ok(Array.isArray(ours), `${path}: expected an array (union or fields)`);
    assert.equal(ours.length, theirs.length, `${path}: length`);
    theirs.forEach((t, i) => sameSchema(ours[i], t, `${path}[${i}${typeof t === 'object' && t && 'name' in t ? `=${String((t as { name: unknown }).name)}` : ''}]`));
    return;
  }
  if (typeof theirs === 'object' && theirs !== null) {
    assert.equal(typeof ours, 'object', `${path}: expected an object`);
    const o = ours as Record<string, unknown>;
    const t = theirs as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).sort(), Object.keys(t).sort(), `${path}: attributes`);
    for (const k of Object.keys(t)) sameSchema(o[k], t[k], `${path}.${k}`);
    return;
  }
  assert.equal(ours, theirs, path);
}

test('the types table: key and value schemas equal Debezium 3.6.1’s, field by field', () => {
  const f = fixtureSchemas('types');
  const ours = deriveDebeziumSchemas(f.topic, shapeOf(TYPES, ['id']));
  sameSchema(JSON.parse(ours.key), f.key, 'Key');
  sameSchema(JSON.parse(ours.value), f.value, 'Envelope');
});

test('a composite key: key and value schemas equal Debezium 3.6.1’s', () => {
  const f = fixtureSchemas('composite');
  const cols: Col[] = [['a', 'int4'], ['b', 'text'], ['val', 'text']];
  const shape = { ...shapeOf(cols, ['a', 'b']), table: 'composite' };
  const ours = deriveDebeziumSchemas(f.topic, shape);
  sameSchema(JSON.parse(ours.key), f.key, 'Key');
  sameSchema(JSON.parse(ours.value), f.value, 'Envelope');
});

// Row 1 of the fixture as PostgreSQL prints it in the source's session (ISO dates, UTC, iso_8601 intervals, hex bytea).
const ROW1: Record<string, string | null> = {
  id: '1', i2: '-32768', i4: '2147483647', name: 'héllo ✓ 😀', v: 'abc', c: 'ab ', price: '-123456789.123', n: '1234567890.12345678901234567890',
  f4: '1.5', f8: '1.7976931348623157e+308', flag: 't', born: '2024-02-29', t: '23:59:59.999999', t3: '12:00:00.123', tz: '10:11:12.5+02',
  at: '2024-01-02 01:04:05.123456+00', local: '1999-12-31 23:59:59.5', local3: '2001-02-03 04:05:06.789', tags: '{"a b",NULL,"c\\"d"}', ints: '{1,2,-3}',
  doc: '{"a": [true, null], "z": 1}', js: '[1, "x"]', uid: '6f1c2b8e-0000-4000-8000-000000000001', bin: '\\xdeadbeef00', mood: 'ok',
  dur: 'P1Y2M3DT4H5M6.5S', b1: '1', b8: '10100101', vb: '1101', x: '<a>x</a>', addr: '192.168.0.1/24', cash: '$12.34', big: null,
};
// Row 2: NaN (refused, see below) left out; BC date, ±infinity timestamps, a negative interval.
const ROW2: Record<string, string> = { born: '0044-03-15 BC', at: 'infinity', local: '-infinity', dur: 'P-1D' };

/** Record instances and buffers as plain JSON, so avsc's classes compare with plain objects. */
function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)));
}

function decodedAfter(id: bigint): Record<string, unknown> {
  for (const r of fixture.records) {
    if (!r.topic.endsWith('.types') || !r.value) continue;
    const v = unframe(Buffer.from(r.value, 'base64'));
    const d = avroType(fixture.schemas[v.schemaId] as string).fromBuffer(v.payload) as { op: string; after: Record<string, unknown> | null };
    if (d.op === 'c' && d.after && d.after.id === id) return d.after;
  }
  throw new Error(`no create of id ${id} in the fixture`);
}

test('values: every column of the captured rows equals what Debezium wrote', () => {
  const f = fixtureSchemas('types');
  const ours = deriveDebeziumSchemas(f.topic, shapeOf(TYPES, ['id']));
  const byName = new Map(ours.fields.map((x) => [x.column.name, x]));
  for (const [id, row] of [[1n, ROW1], [2n, ROW2]] as const) {
    const theirs = decodedAfter(id);
    for (const [name, text] of Object.entries(row)) {
      const fld = byName.get(name);
      assert.ok(fld, name);
      if (text === null) {
        assert.equal(theirs[name], null, name);
        continue;
      }
      const v = textToValue(fld.column, text);
      const got = fld.element !== null ? (v as unknown[]).map((x) => (x === null ? null : connectValue(fld.element as never, x, fld, name))) : connectValue(fld.encoding, v, fld, name);
      // jsonb: Debezium prints PostgreSQL's own text, as walrelay does (the fixture's key order is PostgreSQL's).
      assert.deepEqual(plain(got), plain(theirs[name]), `row ${id} column ${name} (${text})`);
    }
  }
});

test('values that Debezium writes lossily are refused with the column named', () => {
  const f = fixtureSchemas('types');
  const ours = deriveDebeziumSchemas(f.topic, shapeOf(TYPES, ['id']));
  const n = ours.fields.find((x) => x.column.name === 'n');
  assert.ok(n);
  assert.throws(() => connectValue(n.encoding, 'NaN', n, 'column "n"'), /column "n".*NaN.*format walrelay/);
});

test('debeziumValueFieldNames reads the row fields of a Debezium value schema (ours and Debezium’s), null for others', async () => {
  const { debeziumValueFieldNames } = await import('../../src/debezium-format/connect-schema.js');
  const f = fixtureSchemas('types');
  const ours = deriveDebeziumSchemas(f.topic, shapeOf(TYPES, ['id']));
  assert.deepEqual(debeziumValueFieldNames(ours.value), TYPES.map((c) => c[0]));
  assert.deepEqual(debeziumValueFieldNames(JSON.stringify(f.value)), TYPES.map((c) => c[0]));
  assert.equal(debeziumValueFieldNames(ours.key), null);
  assert.equal(debeziumValueFieldNames('not json'), null);
});
