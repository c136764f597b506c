import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveColumns, pgTypeText, SchemaError, typeChange, type ColumnSpec } from '../src/index.js';

const c = (name: string, attnum: number, over: Partial<ColumnSpec> = {}): ColumnSpec => ({ name, attnum, kind: 'int32', pgType: 'int4', typmod: -1, nullable: true, key: null, ...over });
const int8 = { kind: 'int64', pgType: 'int8' } as const;
const varchar = (n?: number): Partial<ColumnSpec> => ({ kind: 'text', pgType: n === undefined ? 'text' : 'varchar', ...(n !== undefined ? { length: n } : {}) });
const decimal = (p: number, s: number): Partial<ColumnSpec> => ({ kind: 'decimal', pgType: 'numeric', precision: p, scale: s });

test('pgTypeText spells types as PostgreSQL does', () => {
  assert.equal(pgTypeText(c('a', 1)), 'int4');
  assert.equal(pgTypeText(c('a', 1, varchar(20))), 'varchar(20)');
  assert.equal(pgTypeText(c('a', 1, decimal(10, 2))), 'numeric(10,2)');
  assert.equal(pgTypeText(c('a', 1, { kind: 'timestamptz', pgType: 'timestamptz', precision: 3 })), 'timestamptz(3)');
  assert.equal(pgTypeText(c('a', 1, { kind: 'array', pgType: '_int4', element: 'int32', elementPgType: 'int4' })), 'int4[]');
  assert.equal(pgTypeText(c('a', 1, { domain: 'money2' })), 'money2 (int4)');
});

test('widenings the targets follow, and the changes they cannot', () => {
  const cases: [Partial<ColumnSpec>, Partial<ColumnSpec>, boolean, string][] = [
    [{ kind: 'int16', pgType: 'int2' }, {}, false, 'widening'],
    [{}, int8, false, 'widening'],
    [{}, int8, true, 'widening'],
    [int8, {}, false, 'incompatible'],
    [{ kind: 'float32', pgType: 'float4' }, { kind: 'float64', pgType: 'float8' }, false, 'widening'],
    [{ kind: 'float32', pgType: 'float4' }, { kind: 'float64', pgType: 'float8' }, true, 'incompatible'],
    [varchar(5), varchar(50), true, 'widening'],
    [varchar(5), varchar(), false, 'widening'],
    [varchar(50), varchar(5), false, 'incompatible'],
    [varchar(), varchar(5), false, 'incompatible'],
    [{ kind: 'text', pgType: 'bpchar', length: 3 }, { kind: 'text', pgType: 'bpchar', length: 5 }, false, 'incompatible'],
    [decimal(6, 2), decimal(14, 2), true, 'widening'],
    [decimal(6, 2), decimal(8, 4), false, 'incompatible'],
    [decimal(6, 2), decimal(5, 2), false, 'incompatible'],
    [decimal(6, 2), { kind: 'numeric', pgType: 'numeric' }, false, 'incompatible'],
    [{ kind: 'timestamp', pgType: 'timestamp', precision: 3 }, { kind: 'timestamp', pgType: 'timestamp' }, false, 'widening'],
    [{ kind: 'timestamp', pgType: 'timestamp' }, { kind: 'timestamp', pgType: 'timestamp', precision: 0 }, false, 'incompatible'],
    [{ kind: 'enum', pgType: 'mood', enumLabels: ['a', 'b'] }, { kind: 'enum', pgType: 'mood', enumLabels: ['a', 'b', 'c'] }, false, 'widening'],
    [{ kind: 'enum', pgType: 'mood', enumLabels: ['a', 'b'] }, { kind: 'enum', pgType: 'mood', enumLabels: ['a', 'x'] }, false, 'incompatible'],
    [{}, varchar(), false, 'incompatible'],
    [{}, { domain: 'positive' }, false, 'incompatible'],
    [{}, {}, true, 'same'],
  ];
  for (const [from, to, key, want] of cases) {
    const a = c('x', 1, from);
    const b = c('x', 1, to);
    assert.equal(typeChange(a, b, key), want, `${pgTypeText(a)} -> ${pgTypeText(b)}${key ? ' (key)' : ''}`);
  }
});

test('a rename keeps the attnum and carries every former name, oldest first; a drop and re-add is a new column', () => {
  const v1 = [c('id', 1, { key: 1 }), c('name', 2, varchar())];
  const v2 = evolveColumns('public.t', v1, [c('id', 1, { key: 1 }), c('full_name', 2, varchar())]);
  assert.deepEqual(v2[1]?.formerNames, ['name']);
  const v3 = evolveColumns('public.t', v2, [c('id', 1, { key: 1 }), c('display', 2, varchar())]);
  assert.deepEqual(v3[1]?.formerNames, ['name', 'full_name']);
  // Renamed back: the current name is not a former one.
  const v4 = evolveColumns('public.t', v3, [c('id', 1, { key: 1 }), c('name', 2, varchar())]);
  assert.deepEqual(v4[1]?.formerNames, ['full_name', 'display']);
  // Dropped and added again under the old name: a new attnum, no former names, no type check.
  const v5 = evolveColumns('public.t', v4, [c('id', 1, { key: 1 }), c('name', 3, int8)]);
  assert.equal(v5[1]?.formerNames, undefined);
  assert.deepEqual(evolveColumns('public.t', null, v1), v1);
});

test('schemas without attnums (written before walrelay carried them) are matched by name', () => {
  const old: ColumnSpec[] = [{ name: 'id', kind: 'int32', pgType: 'int4', typmod: -1, nullable: false, key: 1 }];
  const next = evolveColumns('public.t', old, [c('id', 1, { ...int8, key: 1 })]);
  assert.equal(next[0]?.kind, 'int64');
});

test('a narrowing is refused naming the table, the column and both types', () => {
  const v1 = [c('id', 1, { key: 1 }), c('amount', 2, int8)];
  assert.throws(
    () => evolveColumns('public.acct', v1, [c('id', 1, { key: 1 }), c('total', 2)]),
    (e: unknown) => e instanceof SchemaError && !e.retriable && /table public\.acct column total \(formerly amount\) changed type from int8 to int4/.test(e.message),
  );
});
