import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignFieldNames, avroType, kindOfPgType, TRUNCATE_HEADER, type ColumnSpec, type SourceBlock } from '@walrelay/core';
import { deriveDebeziumSchemas } from '../../src/debezium-format/connect-schema.js';
import { changeRecords, truncateRecords, type TableTopic } from '../../src/publish/change-records.js';
import { textToValue } from '../../src/values/pg-text.js';
// walrelay's own sink decoder reads what format debezium writes (a pure-logic round trip; the e2e
// test/debezium/walrelay-to-debezium.test.ts proves it against the real services).
import { RecordDecoder } from '../../../sink/src/record-decoder.js';

const topic = 'wr.public.items';
const cols: ColumnSpec[] = [
  ['id', 'int8', -1, 1],
  ['name', 'text', -1, null],
  ['price', 'numeric', ((10 << 16) | 2) + 4, null],
  ['at', 'timestamptz', -1, null],
  ['tags', '_text', -1, null],
  ['blob', 'bytea', -1, null],
].map(([name, pgType, typmod, key]) => {
  const t = String(pgType);
  const isArray = t.startsWith('_');
  const k = kindOfPgType(isArray ? t.slice(1) : t, Number(typmod));
  return isArray
    ? { name: String(name), pgType: t, typmod: Number(typmod), nullable: key === null, key: key as number | null, kind: 'array', element: k.kind, elementPgType: t.slice(1) }
    : { name: String(name), pgType: t, typmod: Number(typmod), nullable: key === null, key: key as number | null, ...k };
});
const columns = assignFieldNames(cols);
const schemas = deriveDebeziumSchemas(topic, { schema: 'public', table: 'items', columns });
const registry = new Map<number, string>([
  [1, schemas.key],
  [2, schemas.value],
]);
const table: TableTopic = {
  schema: 'public',
  table: 'items',
  topic,
  partitions: 3,
  columns,
  keyIndexes: [0],
  keySchemaId: 1,
  valueSchemaId: 2,
  keyType: avroType(schemas.key),
  valueType: avroType(schemas.value),
  debezium: { fields: schemas.fields },
};
const source: SourceBlock = {
  version: 'test', connector: 'postgresql', name: 'wr', ts_ms: 1_700_000_000_000n, ts_us: 1_700_000_000_000_000n, snapshot: 'false', db: 'db',
  sequence: '["1","2"]', schema: 'public', table: 'items', txId: 7n, lsn: 100n, commit_lsn: 120n, tx_seq: 1n, xmin: null,
};
const lookup = {
  schemaById: async (id: number) => registry.get(id) as string,
  latest: async (subject: string) => (subject === `${topic}-key` ? { id: 1, schema: schemas.key } : subject === `${topic}-value` ? { id: 2, schema: schemas.value } : null),
};
const row = (id: string, name: string | null, tags: string | null) => {
  const texts: (string | null)[] = [id, name, '12.50', '2024-01-02 01:04:05.123456+00', tags, '\\xdead'];
  return Object.fromEntries(columns.map((c, i) => [c.field, texts[i] === null ? null : textToValue(c, texts[i] as string)]));
};

test('a change in format debezium: walrelay’s sink decoder reads it back, the unchanged TOAST columns as not sent', async () => {
  const decoder = new RecordDecoder(lookup);
  const after = row('5', 'five', '{a,b}');
  const [rec] = changeRecords(table, { op: 'u', before: null, after, unchanged: ['name', 'tags', 'blob'], source }, true);
  assert.ok(rec?.key && rec.value);
  const d = await decoder.decode(rec.key, rec.value, undefined, topic);
  assert.equal(d.kind, 'change');
  if (d.kind !== 'change') return;
  assert.deepEqual(d.key, { id: 5n });
  assert.deepEqual([...d.envelope.unchanged_toast].sort(), ['blob', 'name', 'tags']);
  assert.equal(d.envelope.after?.price, '12.50');
  assert.equal(d.envelope.after?.at, 1_704_157_445_123_456n);
  assert.equal(d.envelope.op, 'u');
});

test('a delete is followed by its tombstone on the same partition; a truncate is a null-key record on every partition with walrelay’s headers', async () => {
  const decoder = new RecordDecoder(lookup);
  const del = changeRecords(table, { op: 'd', before: row('9', null, null), after: null, unchanged: [], source }, true);
  assert.equal(del.length, 2);
  assert.equal(del[1]?.value, null);
  assert.equal(del[0]?.partition, del[1]?.partition);
  const t = truncateRecords(table, source);
  assert.deepEqual(t.map((r) => r.partition), [0, 1, 2]);
  for (const r of t) {
    assert.equal(r.key, null);
    assert.equal(r.headers?.[TRUNCATE_HEADER], '3');
    const d = await decoder.decode(null, r.value, r.headers, topic);
    assert.equal(d.kind, 'truncate');
  }
});

test('an unchanged TOAST value of a type Debezium has no placeholder for is refused, naming the column', () => {
  const vsd = assignFieldNames([{ name: 'id', pgType: 'int4', typmod: -1, nullable: false, key: 1, kind: 'int32' }, { name: 'n', pgType: 'numeric', typmod: -1, nullable: true, key: null, kind: 'numeric' }]);
  const s = deriveDebeziumSchemas('wr.public.nums', { schema: 'public', table: 'nums', columns: vsd });
  const t: TableTopic = { ...table, table: 'nums', topic: 'wr.public.nums', columns: vsd, keyIndexes: [0], keyType: avroType(s.key), valueType: avroType(s.value), debezium: { fields: s.fields } };
  assert.throws(() => changeRecords(t, { op: 'u', before: null, after: { id: 1, n: null }, unchanged: ['n'], source }, true), /column "n" of public\.nums.*REPLICA IDENTITY FULL/);
});
