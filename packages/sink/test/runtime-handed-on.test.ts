import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplyError } from '@walrelay/core';
import { MemoryTarget } from './support/memory-target.js';
import { column, startSink, TableTopic, until, world } from './support/fixtures.js';

// A batch's last chunk is handed on: the runtime resolves its offsets and returns, and the
// chunk is applied while the source fetches on. These tests hold that chunk at the target.

const shape = { schema: 'public', table: 'items', columns: [column('id', 'int64', 1), column('v', 'text')] };
const ids = (target: MemoryTarget) => target.rows('items').map((r) => r['id'] as bigint).sort((a, b) => Number(a - b));

function setup(partitions = 1) {
  const w = world();
  const target = new MemoryTarget(w.events);
  const items = new TableTopic(w.schemas, 't.public.items', shape);
  w.log.create(items.topic, partitions);
  const put = (partition: number, from: number, to: number) => {
    for (let i = from; i <= to; i++) w.log.append(items.topic, partition, items.change('c', { id: BigInt(i), v: `v${i}` }));
  };
  return { ...w, target, items, put };
}

test('a batch returns before its last chunk is applied; the partition\'s next batch waits for that chunk, so order and offsets hold', async () => {
  const { target, items, group, schemas, events, put } = setup();
  put(0, 1, 3);
  const sink = startSink({ driver: target, group, schemas, maxBatch: 3 });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  const release = target.holdNextApply();
  await sink.source.deliver(sink.source.fetch(items.topic, 0)!, { settle: false });
  assert.equal(sink.source.positions.get(`${items.topic}/0`), 3n, 'the batch was resolved when handed on');
  assert.deepEqual(ids(target), [], 'its chunk is still in flight');
  // The next batch: a delete of a row the held chunk creates, then one more row.
  group.log.append(items.topic, 0, items.change('d', { id: 2n }));
  put(0, 4, 4);
  let nextReturned = false;
  const next = sink.source.deliver(sink.source.fetch(items.topic, 0)!, { settle: false }).then(() => (nextReturned = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(nextReturned, false, 'the next batch waits for the chunk in flight');
  assert.deepEqual(ids(target), []);
  release();
  await next;
  await sink.runtime.settled();
  assert.deepEqual(ids(target), [1n, 3n, 4n], 'the delete came after the insert it deletes');
  assert.equal(target.offset('g', items.topic, 0), 5n);
  assert.deepEqual(events.events.filter((e) => e.includes(items.topic)), [`target ${items.topic}/0@3`, `kafka ${items.topic}/0@3`, `target ${items.topic}/0@5`, `kafka ${items.topic}/0@5`]);
  sink.runtime.stop();
  await sink.running;
  assert.deepEqual(sink.outcome(), {});
});

test('a chunk in flight that fails for good stops the sink naming the error, with no later batch of its partition to carry it; nothing reaches Kafka', async () => {
  const { target, items, group, schemas, events, put } = setup();
  put(0, 1, 3);
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  target.failStatement(1, new ApplyError('permission denied for table items', { retriable: false }));
  await group.rebalance();
  await sink.source.deliver(sink.source.fetch(items.topic, 0)!, { settle: false });
  assert.equal(sink.source.positions.get(`${items.topic}/0`), 3n, 'resolved when handed on');
  await until('the run to fail', () => sink.outcome());
  assert.match((sink.outcome()!.error as Error).message, /permission denied for table items/);
  assert.equal(sink.runtime.state, 'failed');
  assert.deepEqual(sink.source.errors, [], 'the failure went to the runtime, not back through the source');
  assert.deepEqual(ids(target), []);
  assert.equal(target.offset('g', items.topic, 0), undefined);
  assert.deepEqual(events.matching('kafka'), []);
});

test('a chunk in flight that another process fenced out realigns its partition at the target\'s offset: nothing applied twice, nothing committed to Kafka, no error', async () => {
  const { target, items, group, schemas, put } = setup();
  put(0, 1, 5);
  const a = startSink({ driver: target, group, schemas });
  const b = startSink({ driver: target, group, schemas });
  await until('both running', () => a.runtime.state === 'running' && b.runtime.state === 'running');
  await group.rebalance(new Map([[a.source, { [items.topic]: [0] }], [b.source, {}]]));
  const release = target.holdNextApply();
  await a.source.deliver(a.source.fetch(items.topic, 0)!, { settle: false });
  // B takes the partition (a rebalance A has not seen yet, so A keeps it) and applies past A's chunk.
  b.source.assign(new Map([[items.topic, [0]]]));
  await until('B loaded its offsets', () => b.source.positions.get(`${items.topic}/0`) === 0n);
  group.log.append(items.topic, 0, items.change('d', { id: 2n }));
  await b.source.drain();
  assert.equal(target.offset('g', items.topic, 0), 6n);
  release();
  await a.runtime.settled();
  assert.equal(target.offset('g', items.topic, 0), 6n, 'the stored offset did not move back');
  assert.deepEqual(ids(target), [1n, 3n, 4n, 5n], 'the row B deleted stays deleted');
  assert.deepEqual(a.source.commits, [], 'A committed nothing to Kafka');
  assert.deepEqual(a.source.seeks, [`${items.topic}/0@6`], 'A realigned the partition at the target\'s offset');
  assert.equal(a.runtime.state, 'running');
  a.runtime.stop();
  b.runtime.stop();
  await Promise.all([a.running, b.running]);
  assert.deepEqual(a.outcome(), {});
});

test('a stop waits for the chunk in flight: it is applied and its Kafka offset committed before the target is closed', async () => {
  const { target, items, group, schemas, events, put } = setup();
  put(0, 1, 3);
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  const release = target.holdNextApply();
  await sink.source.deliver(sink.source.fetch(items.topic, 0)!, { settle: false });
  sink.runtime.stop();
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(sink.outcome(), undefined, 'the run has not ended while a chunk is in flight');
  assert.equal(sink.runtime.state, 'stopping');
  release();
  await sink.running;
  assert.deepEqual(sink.outcome(), {});
  assert.deepEqual(ids(target), [1n, 2n, 3n], 'the chunk was applied, not cut off by the closed connection');
  assert.equal(target.offset('g', items.topic, 0), 3n);
  assert.deepEqual(events.matching('kafka'), [`kafka ${items.topic}/0@3`], 'its Kafka commit went out before the group was left');
});

test('a new assignment loads the target\'s offsets only after the chunk in flight: the partition is not sent back before it', async () => {
  const { target, items, group, schemas, put } = setup();
  put(0, 1, 3);
  const sink = startSink({ driver: target, group, schemas, maxBatch: 3 });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.deliver(sink.source.fetch(items.topic, 0)!);
  put(0, 4, 6);
  const release = target.holdNextApply();
  await sink.source.deliver(sink.source.fetch(items.topic, 0)!, { settle: false });
  const rebalanced = group.rebalance();
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(sink.source.seeks, [], 'the assignment waits for the chunk in flight');
  release();
  await rebalanced;
  await until('the partition was positioned', () => sink.source.seeks.length > 0);
  assert.deepEqual(sink.source.seeks, [`${items.topic}/0@6`], 'positioned after the chunk, which the target holds');
  await sink.source.drain();
  assert.deepEqual(ids(target), [1n, 2n, 3n, 4n, 5n, 6n]);
  assert.equal(target.commits, 2, 'nothing was applied twice');
  sink.runtime.stop();
  await sink.running;
});
