import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barrierTopics } from '../src/runtime/truncate-barrier.js';
import { MemoryTarget } from './support/memory-target.js';
import { column, startSink, TableTopic, until, world, type TestSink } from './support/fixtures.js';

const shape = { schema: 'public', table: 'items', columns: [column('id', 'int64', 1), column('v', 'text')] };
const ids = (target: MemoryTarget) => target.rows('items').map((r) => r['id'] as bigint).sort((a, b) => Number(a - b));

async function stopAll(...sinks: TestSink[]): Promise<void> {
  for (const s of sinks) s.runtime.stop();
  await Promise.all(sinks.map((s) => s.running));
}

test('fencing: a batch fetched before a rebalance and delivered after it is dropped, never committed (target or Kafka)', async () => {
  const w = world();
  const target = new MemoryTarget(w.events);
  const items = new TableTopic(w.schemas, 't.public.items', shape);
  w.log.create(items.topic, 1);
  for (let i = 1; i <= 5; i++) w.log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: `v${i}` }));
  const a = startSink({ driver: target, group: w.group, schemas: w.schemas });
  const b = startSink({ driver: target, group: w.group, schemas: w.schemas });
  await until('both running', () => a.runtime.state === 'running' && b.runtime.state === 'running');
  await w.group.rebalance(new Map([[a.source, { [items.topic]: [0] }], [b.source, {}]]));
  const held = a.source.fetch(items.topic, 0);
  assert.ok(held && held.records.length === 5);
  // A rebalance A has not seen yet: B owns the partition and applies past A's batch.
  await w.group.rebalance(new Map([[a.source, {}], [b.source, { [items.topic]: [0] }]]));
  await b.source.drain();
  w.log.append(items.topic, 0, items.change('u', { id: 1n, v: 'newer' }));
  w.log.append(items.topic, 0, items.change('d', { id: 2n }));
  await b.source.drain();
  assert.equal(target.offset('g', items.topic, 0), 7n);
  const commits = target.commits;
  await a.source.deliver(held, { unseenRebalance: true });
  assert.equal(target.commits, commits, 'the stale batch was refused inside its transaction');
  assert.equal(target.offset('g', items.topic, 0), 7n, 'the stored offset did not move back');
  assert.deepEqual(ids(target), [1n, 3n, 4n, 5n], 'the row B deleted stays deleted');
  assert.equal(target.rows('items').find((r) => r['id'] === 1n)?.['v'], 'newer');
  assert.deepEqual(a.source.commits, [], 'A committed nothing to Kafka');
  assert.deepEqual(a.source.errors, [], 'a stale batch is not an error of the sink');
  assert.equal(a.runtime.state, 'running');
  await stopAll(a, b);
});

/** p0: 1, T, 10   p1: 2, T   p2: 3, 4, T, 30 — one truncate at LSN 5000 on a 3-partition topic. */
function truncateWorld() {
  const w = world();
  const target = new MemoryTarget(w.events);
  const items = new TableTopic(w.schemas, 't.public.items', shape);
  w.log.create(items.topic, 3);
  const put = (p: number, id: number) => w.log.append(items.topic, p, items.change('c', { id: BigInt(id), v: 'x' }));
  const marker = (p: number) => w.log.append(items.topic, p, items.marker(3, 5000n));
  put(0, 1), marker(0), put(0, 10);
  put(1, 2), marker(1);
  put(2, 3), put(2, 4), marker(2), put(2, 30);
  return { ...w, target, items };
}

async function deliverNext(sink: TestSink, topic: string, partition: number): Promise<void> {
  const batch = sink.source.fetch(topic, partition);
  assert.ok(batch, `a batch for ${topic}/${partition}`);
  await sink.source.deliver(batch);
}

test('truncate barrier across partitions: nothing after the truncate is applied before every partition reached it', async () => {
  const { target, items, group, schemas } = truncateWorld();
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await deliverNext(sink, items.topic, 0);
  await deliverNext(sink, items.topic, 1);
  assert.deepEqual(ids(target), [1n, 2n], 'p0 stopped at its marker: 10 (written after the truncate) waits');
  assert.ok(sink.source.paused.has(`${items.topic}/0`) && sink.source.paused.has(`${items.topic}/1`));
  await deliverNext(sink, items.topic, 2);
  // p2 arrived last: truncate, release, then its own 30.
  assert.deepEqual(ids(target), [30n]);
  await until('p0 and p1 released and drained', async () => {
    await sink.source.drain();
    return ids(target).length === 2;
  });
  assert.deepEqual(ids(target), [10n, 30n]);
  const { arrivalTopic, doneTopic } = barrierTopics(items.topic);
  const rows = [...target.offsets.values()].filter((o) => o.topic === arrivalTopic || o.topic === doneTopic);
  assert.equal(rows.length, 6, 'two rows per partition');
  for (let p = 0; p < 3; p++) assert.equal(target.offset('g', items.topic, p), BigInt(group.log.records(items.topic, p).length));
  assert.equal((await sink.registry.getSingleMetric('walrelay_sink_records_applied_total')!.get()).values.find((v) => v.labels['op'] === 't')?.value, 1);
  await stopAll(sink);
});

test('truncate barrier across two sink processes sharing one target: the table is truncated once, in order', async () => {
  const { target, items, group, schemas } = truncateWorld();
  const a = startSink({ driver: target, group, schemas });
  const b = startSink({ driver: target, group, schemas });
  await until('both running', () => a.runtime.state === 'running' && b.runtime.state === 'running');
  await group.rebalance(new Map([[a.source, { [items.topic]: [0, 1] }], [b.source, { [items.topic]: [2] }]]));
  await a.source.drain();
  assert.deepEqual(ids(target), [1n, 2n], 'A waits at both markers for B');
  assert.equal(a.source.paused.size, 2);
  await b.source.drain();
  assert.deepEqual(ids(target), [30n], 'B arrived last: it truncated and went on');
  await until('A resumed by its barrier poll and drained', async () => {
    await a.source.drain();
    return ids(target).length === 2;
  });
  assert.deepEqual(ids(target), [10n, 30n]);
  const truncates = async (s: TestSink) => (await s.registry.getSingleMetric('walrelay_sink_records_applied_total')!.get()).values.find((v) => v.labels['op'] === 't')?.value ?? 0;
  assert.equal((await truncates(a)) + (await truncates(b)), 1, 'one truncate in all');
  await stopAll(a, b);
});

test('truncate barrier: a rebalance while partitions wait resumes them; they re-enter the barrier from the target offsets', async () => {
  const { target, items, group, schemas } = truncateWorld();
  const a = startSink({ driver: target, group, schemas });
  await until('running', () => a.runtime.state === 'running');
  await group.rebalance();
  await deliverNext(a, items.topic, 0);
  assert.ok(a.source.paused.has(`${items.topic}/0`));
  const b = startSink({ driver: target, group, schemas });
  await until('B running', () => b.runtime.state === 'running');
  await group.rebalance(new Map([[a.source, { [items.topic]: [0] }], [b.source, { [items.topic]: [1, 2] }]]));
  assert.equal(a.source.paused.size, 0, 'the new assignment resumed the waiting partition');
  await until('everything applied', async () => {
    await a.source.drain();
    await b.source.drain();
    return ids(target).length === 2 && target.offset('g', items.topic, 0) === 3n ? true : undefined;
  });
  assert.deepEqual(ids(target), [10n, 30n]);
  await stopAll(a, b);
});
