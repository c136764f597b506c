import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchemaColumn, TableShape } from '@walrelay/core';
import { MemoryTarget } from './support/memory-target.js';
import { column, startSink, TableTopic, until, world } from './support/fixtures.js';

const id: SchemaColumn = { ...column('id', 'int64', 1), attnum: 1 };
const name: SchemaColumn = { ...column('name', 'text'), attnum: 2 };
const v1: TableShape = { schema: 'public', table: 'items', columns: [id, name] };
/** RENAME COLUMN name TO full_name: same attnum, the former name carried. */
const v2: TableShape = { ...v1, columns: [id, { ...name, name: 'full_name', field: 'full_name', formerNames: ['name'] }] };

/** `items` in v1 on two partitions: row 1 on partition 0, row 2 on partition 1. */
function itemsOnTwoPartitions(): { w: ReturnType<typeof world>; target: MemoryTarget; old: TableTopic } {
  const w = world();
  const target = new MemoryTarget(w.events);
  const old = new TableTopic(w.schemas, 't.public.items', v1);
  w.log.create(old.topic, 2);
  w.log.append(old.topic, 0, old.change('c', { id: 1n, name: 'one' }));
  w.log.append(old.topic, 1, old.change('c', { id: 2n, name: 'two' }));
  return { w, target, old };
}

/** Around RENAME COLUMN name TO full_name: row 2 changed before it (partition 1), row 3 inserted after it (partition 0). */
function renameUpstream(w: ReturnType<typeof world>, old: TableTopic): void {
  w.log.append(old.topic, 1, old.change('u', { id: 2n, name: 'two, written before the rename' }));
  const renamed = new TableTopic(w.schemas, old.topic, v2);
  w.log.append(renamed.topic, 0, renamed.change('c', { id: 3n, full_name: 'three' }));
}

function rowsById(target: MemoryTarget): Record<string, unknown>[] {
  return target.rows('items').sort((x, y) => Number((x['id'] as bigint) - (y['id'] as bigint)));
}

test('a rename applied by one sink process reaches another that still holds the old schema: its older records land in the renamed column', async () => {
  const { w, target, old } = itemsOnTwoPartitions();
  const a = startSink({ driver: target, group: w.group, schemas: w.schemas });
  const b = startSink({ driver: target, group: w.group, schemas: w.schemas });
  await until('both running', () => a.runtime.state === 'running' && b.runtime.state === 'running');
  await w.group.rebalance(new Map([[a.source, { [old.topic]: [0] }], [b.source, { [old.topic]: [1] }]]));
  await a.source.drain();
  await b.source.drain();
  assert.deepEqual(target.tables.get('items')?.columns, ['id', 'name']);

  // p1 still holds a change written before the rename; p0 gets the first one after it.
  renameUpstream(w, old);
  await a.source.drain();
  assert.deepEqual(target.tables.get('items')?.columns, ['id', 'full_name'], 'A renamed the column');
  assert.ok(w.events.indexOf('rename items.name -> full_name') >= 0);
  await b.source.drain();
  assert.deepEqual(rowsById(target), [
    { id: 1n, full_name: 'one' },
    { id: 2n, full_name: 'two, written before the rename' },
    { id: 3n, full_name: 'three' },
  ]);
  assert.equal(target.offset('g', old.topic, 1), 2n);
  assert.deepEqual(b.source.errors, []);
  a.runtime.stop();
  b.runtime.stop();
  await Promise.all([a.running, b.running]);
});

test('records of the old and the new schema in one batch are written in the new names', async () => {
  const w = world();
  const target = new MemoryTarget(w.events);
  const old = new TableTopic(w.schemas, 't.public.items', v1);
  w.log.create(old.topic, 1);
  w.log.append(old.topic, 0, old.change('c', { id: 1n, name: 'one' }));
  const renamed = new TableTopic(w.schemas, old.topic, v2);
  w.log.append(old.topic, 0, old.change('c', { id: 2n, name: 'two' }));
  w.log.append(renamed.topic, 0, renamed.change('c', { id: 3n, full_name: 'three' }));
  w.log.append(old.topic, 0, old.change('u', { id: 1n, name: 'one again' }));
  const sink = startSink({ driver: target, group: w.group, schemas: w.schemas });
  await until('running', () => sink.runtime.state === 'running');
  await w.group.rebalance();
  await sink.source.drain();
  assert.deepEqual(rowsById(target), [
    { id: 1n, full_name: 'one again' },
    { id: 2n, full_name: 'two' },
    { id: 3n, full_name: 'three' },
  ]);
  sink.runtime.stop();
  await sink.running;
});

test('a rename applied by one partition while another partition of the same process holds a batch prepared in the old names: that batch is written in the new names (the sink does not stop)', async () => {
  const { w, target, old } = itemsOnTwoPartitions();
  const sink = startSink({ driver: target, group: w.group, schemas: w.schemas });
  await until('running', () => sink.runtime.state === 'running');
  await w.group.rebalance();
  await sink.source.drain();
  assert.deepEqual(target.tables.get('items')?.columns, ['id', 'name']);

  // Partition 1: a change written before the rename; partition 0: the first one after it.
  renameUpstream(w, old);
  // Partition 1's batch is built in the old names and held at the target; partition 0's renames the column meanwhile.
  const release = target.holdNextApply();
  const held = sink.source.deliver(sink.source.fetch(old.topic, 1)!);
  await sink.source.deliver(sink.source.fetch(old.topic, 0)!);
  assert.deepEqual(target.tables.get('items')?.columns, ['id', 'full_name'], 'partition 0 renamed the column');
  release();
  await held;
  assert.deepEqual(sink.source.errors, [], 'no batch failed');
  assert.equal(sink.runtime.state, 'running');
  assert.deepEqual(rowsById(target), [
    { id: 1n, full_name: 'one' },
    { id: 2n, full_name: 'two, written before the rename' },
    { id: 3n, full_name: 'three' },
  ]);
  assert.equal(target.offset('g', old.topic, 1), 2n);
  assert.ok(w.events.indexOf('rename items.name -> full_name') < w.events.indexOf(`target ${old.topic}/1@2`), 'partition 1 committed after the rename');
  sink.runtime.stop();
  await sink.running;
});
