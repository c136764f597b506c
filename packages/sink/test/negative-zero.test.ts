import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignFieldNames, avroType, decodeAvro, deriveChangeSchemas, encodeAvro, type ColumnSpec } from '@walrelay/core';
import { textToValue } from '../../source-postgres/src/values/pg-text.js';
import { arrayJson, finiteFloat } from '../src/value-text.js';

/** float8 '-0' end to end through pure code: PostgreSQL text → JS → Avro → JS → target parameter. */
const f8: ColumnSpec = { name: 'f', kind: 'float64', pgType: 'float8', typmod: -1, nullable: true, key: null };
const fa: ColumnSpec = { name: 'fa', kind: 'array', pgType: '_float8', typmod: -1, nullable: true, key: null, element: 'float64' };
const id: ColumnSpec = { name: 'id', kind: 'int32', pgType: 'int4', typmod: -1, nullable: false, key: 1 };

test('-0 keeps its sign from PostgreSQL text through Avro to the sinks\' parameters', () => {
  assert.ok(Object.is(textToValue(f8, '-0'), -0), 'source text conversion');
  assert.ok(Object.is((textToValue(fa, '{-0,1.5}') as number[])[0], -0), 'source array conversion');
  const schemas = deriveChangeSchemas('walrelay.public.t', { schema: 'public', table: 't', columns: assignFieldNames([id, f8, fa]) });
  const type = avroType(schemas.value);
  const source = { version: '1', connector: 'postgresql', name: 'w', ts_ms: 0n, ts_us: null, snapshot: 'false', db: 'd', sequence: null, schema: 'public', table: 't', txId: null, lsn: null, commit_lsn: null, tx_seq: null, xmin: null };
  const decoded = decodeAvro(type, encodeAvro(type, { before: null, after: { id: 1, f: -0, fa: [-0, 1.5] }, source, op: 'c', ts_ms: null, unchanged_toast: [] })) as { after: { f: number; fa: number[] } };
  assert.ok(Object.is(decoded.after.f, -0), 'Avro double');
  assert.ok(Object.is(decoded.after.fa[0], -0), 'Avro array of double');
  assert.ok(Object.is(finiteFloat(decoded.after.f, 't.f'), -0), 'the float parameter of MySQL and SQL Server');
  assert.equal(arrayJson(decoded.after.fa, 't.fa', 'float64'), '[-0,1.5]', 'array text (JSON.stringify would print 0)');
  assert.equal(arrayJson([[-0, null], [0]], 't.fa', 'float64'), '[[-0,null],[0]]');
  assert.ok(Object.is((JSON.parse(arrayJson([-0], 't.fa', 'float64')) as number[])[0], -0), 'the text parses back to -0');
});
