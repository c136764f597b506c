import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEnvelope, SchemaColumn, TableShape } from '@walrelay/core';
import { coalesce, keyText, type TableChange } from '../src/coalesce.js';

const col = (name: string, key: number | null): SchemaColumn => ({ name, field: name, kind: key ? 'int64' : 'text', pgType: key ? 'int8' : 'text', typmod: -1, nullable: !key, key });
const shape: TableShape = { schema: 'public', table: 't', columns: [col('id', 1), col('a', null), col('big', null)] };

function change(op: 'c' | 'u' | 'd' | 'r', id: bigint, after: Record<string, unknown> | null, unchanged: string[] = []): TableChange {
  const envelope = { op, before: op === 'd' ? { id } : null, after, unchanged_toast: unchanged, ts_ms: null, source: {} } as unknown as ChangeEnvelope;
  return { kind: 'change', key: { id }, envelope };
}

test('insert then updates of one key become one upsert with the final values', () => {
  const steps = coalesce(shape, [
    change('c', 1n, { id: 1n, a: 'x', big: 'B' }),
    change('u', 1n, { id: 1n, a: 'y', big: null }, ['big']),
    change('u', 1n, { id: 1n, a: 'z', big: null }, ['big']),
  ]);
  assert.deepEqual(steps, [{ kind: 'upsert', columns: shape.columns, rows: [[1n, 'z', 'B']] }]);
});

test('an unchanged TOAST column without an earlier value in the batch is not written at all', () => {
  const steps = coalesce(shape, [change('u', 1n, { id: 1n, a: 'y', big: null }, ['big']), change('u', 2n, { id: 2n, a: 'q', big: 'full' })]);
  assert.equal(steps.length, 2);
  const partial = steps.find((s) => s.kind === 'upsert' && s.columns.length === 2);
  assert.ok(partial && partial.kind === 'upsert');
  assert.deepEqual(partial.columns.map((c) => c.name), ['id', 'a']);
  assert.deepEqual(partial.rows, [[1n, 'y']]);
});

test('a delete wins over earlier upserts; an insert after a delete is an upsert', () => {
  const steps = coalesce(shape, [
    change('c', 1n, { id: 1n, a: 'x', big: 'b' }),
    change('d', 1n, null),
    change('c', 2n, { id: 2n, a: 'x', big: 'b' }),
    change('d', 2n, null),
    change('c', 2n, { id: 2n, a: 'again', big: 'b2' }),
  ]);
  assert.deepEqual(steps, [
    { kind: 'delete', columns: [shape.columns[0]], keys: [[1n]] },
    { kind: 'upsert', columns: shape.columns, rows: [[2n, 'again', 'b2']] },
  ]);
});

test('a truncate splits the batch: effects before it, the truncate, effects after it', () => {
  const steps = coalesce(shape, [change('c', 1n, { id: 1n, a: 'x', big: 'b' }), { kind: 'truncate' }, change('c', 1n, { id: 1n, a: 'new', big: 'n' })]);
  assert.deepEqual(steps.map((s) => s.kind), ['upsert', 'truncate', 'upsert']);
  assert.deepEqual((steps[2] as unknown as { rows: unknown[][] }).rows, [[1n, 'new', 'n']]);
});

test('key text distinguishes types and values', () => {
  assert.notEqual(keyText({ a: 1n }, ['a']), keyText({ a: '1' }, ['a']));
  assert.notEqual(keyText({ a: Buffer.from([1]) }, ['a']), keyText({ a: 'AQ==' }, ['a']));
  assert.equal(keyText({ a: 1n, b: 'x' }, ['a', 'b']), keyText({ b: 'x', a: 1n }, ['a', 'b']));
});

test('a tombstone deletes its key: alone (its delete record compacted away), after a delete, and before a re-insert', () => {
  const tombstone = (id: bigint): TableChange => ({ kind: 'delete', key: { id } });
  assert.deepEqual(coalesce(shape, [tombstone(7n)]), [{ kind: 'delete', columns: [shape.columns[0]], keys: [[7n]] }]);
  assert.deepEqual(coalesce(shape, [change('c', 1n, { id: 1n, a: 'x', big: 'b' }), change('d', 1n, null), tombstone(1n)]), [
    { kind: 'delete', columns: [shape.columns[0]], keys: [[1n]] },
  ]);
  assert.deepEqual(coalesce(shape, [tombstone(2n), change('c', 2n, { id: 2n, a: 'back', big: 'b' })]), [
    { kind: 'upsert', columns: shape.columns, rows: [[2n, 'back', 'b']] },
  ]);
});
