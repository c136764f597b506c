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

/** The folding as it was written first (one column map per upsert), kept here as the reference the faster one must equal. */
function referenceCoalesce(s: TableShape, changes: readonly TableChange[]): unknown[] {
  const keyCols = s.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  const keyFields = keyCols.map((c) => c.field);
  type E = { kind: 'upsert'; key: Record<string, unknown>; values: Map<string, unknown> } | { kind: 'delete'; key: Record<string, unknown> };
  const steps: unknown[] = [];
  let effects = new Map<string, E>();
  const flush = () => {
    if (effects.size === 0) return;
    const deletes: unknown[][] = [];
    const groups = new Map<string, { columns: SchemaColumn[]; rows: unknown[][] }>();
    for (const e of effects.values()) {
      if (e.kind === 'delete') {
        deletes.push(keyCols.map((c) => e.key[c.field] ?? null));
        continue;
      }
      const columns = s.columns.filter((c) => c.key !== null || e.values.has(c.field));
      const sig = columns.map((c) => c.field).join('\u0000');
      let g = groups.get(sig);
      if (!g) groups.set(sig, (g = { columns, rows: [] }));
      g.rows.push(columns.map((c) => e.values.get(c.field) ?? null));
    }
    if (deletes.length > 0) steps.push({ kind: 'delete', columns: keyCols, keys: deletes });
    for (const g of groups.values()) steps.push({ kind: 'upsert', columns: g.columns, rows: g.rows });
  };
  for (const ch of changes) {
    if (ch.kind === 'truncate') {
      flush();
      effects = new Map();
      steps.push({ kind: 'truncate' });
      continue;
    }
    const k = keyText(ch.key, keyFields);
    if (ch.kind === 'delete' || ch.envelope.op === 'd') {
      effects.set(k, { kind: 'delete', key: ch.key });
      continue;
    }
    const after = ch.envelope.after;
    if (!after) continue;
    const unchanged = new Set(ch.envelope.unchanged_toast);
    const prev = effects.get(k);
    const values = prev?.kind === 'upsert' ? prev.values : new Map<string, unknown>();
    for (const f of Object.keys(after)) if (!unchanged.has(f)) values.set(f, after[f]);
    for (const f of keyFields) values.set(f, ch.key[f]);
    if (prev?.kind === 'upsert') prev.values = values;
    else {
      effects.delete(k);
      effects.set(k, { kind: 'upsert', key: ch.key, values });
    }
  }
  flush();
  return steps;
}

test('random batches fold exactly as the reference folding does (single bigint keys, composite keys, partial rows, TOAST, truncates)', () => {
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
  const composite: TableShape = { schema: 'public', table: 'c', columns: [col('a', null), col('k2', 2), col('k1', 1), col('b', null)] };
  for (let round = 0; round < 400; round++) {
    const s = round % 2 === 0 ? shape : composite;
    const keyFields = s.columns.filter((c) => c.key !== null).map((c) => c.field);
    const others = s.columns.filter((c) => c.key === null).map((c) => c.field);
    const changes: TableChange[] = [];
    for (let i = 0, n = 1 + rand(30); i < n; i++) {
      const key: Record<string, unknown> = {};
      for (const f of keyFields) key[f] = s === shape ? BigInt(rand(6)) : rand(2) === 0 ? BigInt(rand(3)) : `k${rand(3)}`;
      const roll = rand(20);
      if (roll === 0) {
        changes.push({ kind: 'truncate' });
      } else if (roll <= 2) {
        changes.push({ kind: 'delete', key });
      } else {
        const op = (['c', 'u', 'r', 'd'] as const)[rand(4)]!;
        // Rows of an older schema version may lack a column; an update may leave TOAST values out.
        const after: Record<string, unknown> | null = op === 'd' ? null : { ...key };
        if (after) for (const f of others) if (rand(5) !== 0) after[f] = rand(4) === 0 ? null : `${f}${rand(100)}`;
        const unchanged = after && rand(4) === 0 ? others.filter(() => rand(2) === 0) : [];
        const envelope = { op, before: null, after, unchanged_toast: unchanged, ts_ms: null, source: {} } as unknown as ChangeEnvelope;
        changes.push({ kind: 'change', key, envelope });
      }
    }
    assert.deepEqual(coalesce(s, changes), referenceCoalesce(s, changes), `round ${round}`);
  }
});
