import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignFieldNames, avroType, decodeAvro, deriveChangeSchemas, encodeAvro, kindOfPgType, SOURCE_SCHEMA, type ColumnSpec } from '@walrelay/core';
import { textToValue } from '../../source-postgres/src/values/pg-text.js';
import { APPLIED_SOURCE_FIELDS, envelopeReader } from '../src/envelope-reader.js';

/** One column per value kind, from PostgreSQL type and text, as the source converts them. */
const COLUMNS: readonly [string, string, number, string][] = [
  ['id', 'int8', -1, '9007199254740993'],
  ['b', 'bool', -1, 't'],
  ['s', 'int2', -1, '-32768'],
  ['i', 'int4', -1, '2147483647'],
  ['f4', 'float4', -1, '1.5'],
  ['f8', 'float8', -1, '-0'],
  ['d', 'numeric', ((12 << 16) | 4) + 4, '-12345678.9012'],
  ['n', 'numeric', -1, '123456789012345678901234567890.000000000000000000001'],
  ['t', 'text', -1, 'ünïcode ✓'],
  ['v', 'varchar', 14, 'ten chars!'],
  ['by', 'bytea', -1, '\\x00ff10'],
  ['u', 'uuid', -1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ['j', 'jsonb', -1, '{"a": [1, 2.5, null]}'],
  ['dt', 'date', -1, '2026-12-06'],
  ['tm', 'time', -1, '23:59:59.999999'],
  ['tz', 'timetz', -1, '12:00:00+05:30'],
  ['ts', 'timestamp', -1, '2026-12-06 09:30:00.123456'],
  ['tsz', 'timestamptz', -1, '2026-12-06 09:30:00.123456+00'],
  ['iv', 'interval', -1, '1 year 2 mons 3 days 04:05:06.7'],
];

function specs(): ColumnSpec[] {
  return COLUMNS.map(([name, pgType, typmod], i) => ({ name, pgType, typmod, nullable: i !== 0, key: i === 0 ? 1 : null, ...kindOfPgType(pgType, typmod) }));
}

const SOURCE = {
  version: '0.9.0', connector: 'postgresql', name: 'walrelay', ts_ms: 1765013400123n, ts_us: 1765013400123456n, snapshot: 'false', db: 'app',
  sequence: '["22817720","22817888"]', schema: 'public', table: 'every_kind', txId: 7741n, lsn: 22817888n, commit_lsn: 22818000n, tx_seq: 3n, xmin: null,
};

test('the projected reader decodes every column kind as the full schema does, and only the source fields a sink reads', () => {
  const cols = specs();
  const schemas = deriveChangeSchemas('walrelay.public.every_kind', { schema: 'public', table: 'every_kind', columns: assignFieldNames(cols) });
  const full = avroType(schemas.value);
  const reader = envelopeReader(JSON.parse(schemas.value), full);
  assert.ok(reader, 'a walrelay envelope schema is projected');
  const after = Object.fromEntries(cols.map((c, i) => [c.name, textToValue(c, COLUMNS[i]![3])]));
  const before = { ...after, t: null, i: -1 };
  for (const envelope of [
    { before: null, after, source: SOURCE, op: 'c', ts_ms: 1765013400200n, unchanged_toast: [] },
    { before, after, source: { ...SOURCE, snapshot: 'incremental', commit_lsn: null }, op: 'u', ts_ms: null, unchanged_toast: ['t'] },
    { before, after: null, source: { ...SOURCE, snapshot: null, lsn: null }, op: 'd', ts_ms: 1n, unchanged_toast: [] },
  ]) {
    const bytes = encodeAvro(full, envelope);
    const whole = decodeAvro(full, bytes) as Record<string, unknown>;
    const projected = decodeAvro(reader.type, bytes, reader.resolver) as Record<string, unknown>;
    // Plain copies: the reader's record classes are its own (deepEqual compares prototypes).
    const plain = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? { ...v } : v);
    for (const f of ['before', 'after', 'op', 'ts_ms', 'unchanged_toast']) assert.deepEqual(plain(projected[f]), plain(whole[f]), `${envelope.op}: ${f}`);
    const src = projected.source as Record<string, unknown>;
    assert.deepEqual(Object.keys(src).sort(), [...APPLIED_SOURCE_FIELDS].sort(), `${envelope.op}: only the source fields a sink reads`);
    for (const f of APPLIED_SOURCE_FIELDS) assert.equal(src[f], (whole.source as Record<string, unknown>)[f], `${envelope.op}: source.${f}`);
  }
});

test('a writer schema without some source fields (an older walrelay) is projected to the fields it has', () => {
  const cols = specs().slice(0, 3);
  const schemas = deriveChangeSchemas('walrelay.public.old', { schema: 'public', table: 'old', columns: assignFieldNames(cols) });
  const older = JSON.parse(schemas.value) as { fields: { name: string; type: unknown }[] };
  const oldSource = { ...SOURCE_SCHEMA, fields: SOURCE_SCHEMA.fields.filter((f) => f.name !== 'commit_lsn' && f.name !== 'tx_seq') };
  older.fields = older.fields.map((f) => (f.name === 'source' ? { ...f, type: oldSource } : f));
  const text = JSON.stringify(older);
  const writer = avroType(text);
  const reader = envelopeReader(older, writer);
  assert.ok(reader);
  const { commit_lsn: _c, tx_seq: _t, ...oldValues } = SOURCE;
  const bytes = encodeAvro(writer, { before: null, after: { id: 1n, b: true, s: 2 }, source: oldValues, op: 'c', ts_ms: null, unchanged_toast: [] });
  const projected = decodeAvro(reader.type, bytes, reader.resolver) as { source: Record<string, unknown> };
  assert.deepEqual({ ...projected.source }, { ts_ms: SOURCE.ts_ms, snapshot: 'false', schema: 'public', table: 'every_kind', lsn: SOURCE.lsn });
  assert.equal(projected.source.commit_lsn, undefined, 'a field the writer never had stays undefined (the sink falls back to lsn)');
});

test('a schema with nothing to skip, or no inline source record, is decoded whole', () => {
  const minimal = { type: 'record', name: 'E', fields: [{ name: 'op', type: 'string' }, { name: 'source', type: { type: 'record', name: 'S', fields: [{ name: 'lsn', type: ['null', 'long'], default: null }] } }] };
  assert.equal(envelopeReader(minimal, avroType(minimal)), undefined);
  const noSource = { type: 'record', name: 'K', fields: [{ name: 'id', type: 'long' }] };
  assert.equal(envelopeReader(noSource, avroType(noSource)), undefined);
});

test('a projection avsc cannot resolve from the writer is not used: the record is decoded whole', () => {
  const schemas = deriveChangeSchemas('walrelay.public.t', { schema: 'public', table: 't', columns: assignFieldNames(specs().slice(0, 2)) });
  const parsed = JSON.parse(schemas.value) as { fields: { name: string; type: unknown }[] };
  // A writer whose `op` is an int cannot be read as the projection's string.
  const writer = avroType({ ...parsed, fields: parsed.fields.map((f) => (f.name === 'op' ? { ...f, type: 'int' } : f)) });
  assert.equal(envelopeReader(parsed, writer), undefined);
});
