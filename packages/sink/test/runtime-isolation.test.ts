import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@walrelay/core';
import { MemoryTarget } from './support/memory-target.js';
import { column, startSink, TableTopic, testConfig, until, world, type TestSink } from './support/fixtures.js';

const itemsShape = { schema: 'public', table: 'items', columns: [column('id', 'int64', 1), column('v', 'text')] };
const othersShape = { schema: 'public', table: 'others', columns: [column('id', 'int64', 1), column('w', 'text')] };
const ids = (target: MemoryTarget, table: string) => target.rows(table).map((r) => r['id'] as bigint).sort((a, b) => Number(a - b));

async function metric(sink: TestSink, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = sink.registry.getSingleMetric(name);
  return (await m?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

function setup(onError: 'dlq' | 'fail') {
  const w = world();
  const target = new MemoryTarget(w.events);
  const items = new TableTopic(w.schemas, 't.public.items', itemsShape);
  const others = new TableTopic(w.schemas, 't.public.others', othersShape);
  w.log.create(items.topic, 1);
  w.log.create(others.topic, 1);
  const sink = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ onError }) });
  return { ...w, target, items, others, sink };
}

async function started(s: ReturnType<typeof setup>): Promise<void> {
  await until('running', () => s.sink.runtime.state === 'running');
  await s.group.rebalance();
}

test('onError dlq: a value the target refuses sends that record to the dead-letter topic; the rest of its batch is applied', async () => {
  const s = setup('dlq');
  s.target.refuseValue = (_t, c, v) => (c.name === 'v' && v === 'BAD' ? 'out of range for the column' : undefined);
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'ok' }));
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 2n, v: 'BAD' }));
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 3n, v: 'ok' }));
  s.log.append(s.items.topic, 0, s.items.change('u', { id: 1n, v: 'BAD' }));
  await started(s);
  await s.sink.source.drain();
  assert.deepEqual(ids(s.target, 'items'), [1n, 3n]);
  assert.equal(s.target.rows('items').find((r) => r['id'] === 1n)?.['v'], 'ok', 'the refused update left the row as it was');
  const dl = s.sink.deadLetters.records;
  assert.deepEqual(dl.map((r) => r.headers['walrelay.offset']), ['1', '3']);
  for (const r of dl) {
    assert.match(r.headers['walrelay.error'] ?? '', /items\.v: out of range/);
    assert.equal(r.headers['walrelay.error.stage'], 'apply');
    assert.equal(r.headers['walrelay.topic'], s.items.topic);
    assert.equal(r.headers['walrelay.partition'], '0');
    assert.equal(r.headers['walrelay.sink'], 'memory');
    assert.deepEqual(r.value, s.log.records(s.items.topic, 0)[Number(r.headers['walrelay.offset'])]?.value, 'the original value');
  }
  assert.equal(s.target.offset('g', s.items.topic, 0), 4n);
  assert.equal(await metric(s.sink, 'walrelay_sink_dead_letters_total', { topic: s.items.topic, stage: 'apply' }), 2);
  assert.ok(s.events.indexOf(`target ${s.items.topic}/0@4`) < s.events.indexOf(`kafka ${s.items.topic}/0@4`));
  assert.equal(s.sink.runtime.state, 'running');
  s.sink.runtime.stop();
  await s.sink.running;
});

test('onError dlq: a record that does not decode goes to the dead-letter topic (stage decode); later records apply', async () => {
  const s = setup('dlq');
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'ok' }));
  s.log.append(s.items.topic, 0, { key: Buffer.from('garbage'), value: Buffer.from('not avro at all'), headers: {} });
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 2n, v: 'ok' }));
  await started(s);
  await s.sink.source.drain();
  assert.deepEqual(ids(s.target, 'items'), [1n, 2n]);
  assert.deepEqual(s.sink.deadLetters.records.map((r) => [r.headers['walrelay.offset'], r.headers['walrelay.error.stage'], r.headers['walrelay.error.code']]), [['1', 'decode', 'DECODE']]);
  assert.equal(s.target.offset('g', s.items.topic, 0), 3n);
  s.sink.runtime.stop();
  await s.sink.running;
});

test('onError fail: the sink stops at the bad record naming it, the records before it applied, nothing past it, nothing to Kafka', async () => {
  const s = setup('fail');
  s.target.refuseValue = (_t, c, v) => (c.name === 'v' && v === 'BAD' ? 'out of range for the column' : undefined);
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'ok' }));
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 2n, v: 'BAD' }));
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 3n, v: 'ok' }));
  await started(s);
  await s.sink.source.drain();
  await until('the sink to stop', () => s.sink.outcome());
  const error = s.sink.outcome()!.error as Error;
  assert.match(error.message, /record t\.public\.items\/0@1 could not be applied: items\.v: out of range.*onError=fail; set onError: dlq/);
  assert.equal(s.sink.runtime.state, 'failed');
  assert.deepEqual(ids(s.target, 'items'), [1n]);
  assert.equal(s.target.offset('g', s.items.topic, 0), 1n, 'the stored position is the bad record');
  assert.deepEqual(s.events.matching('kafka'), []);
  assert.deepEqual(s.sink.deadLetters.records, []);
});

test('a table the target cannot create stops only that table: under dlq its records go to the DLQ with the reason and a per-table metric', async () => {
  const s = setup('dlq');
  s.target.refuseTable = (t) => (t.name === 'others' ? 'MySQL identifier "w🦭" contains characters outside the Unicode BMP' : undefined);
  for (let i = 1; i <= 3; i++) s.log.append(s.others.topic, 0, s.others.change('c', { id: BigInt(i), w: 'x' }));
  for (let i = 1; i <= 3; i++) s.log.append(s.items.topic, 0, s.items.change('c', { id: BigInt(i), v: 'x' }));
  await started(s);
  await s.sink.source.drain();
  assert.deepEqual(ids(s.target, 'items'), [1n, 2n, 3n], 'the other table goes on');
  assert.equal(s.target.tables.has('others'), false);
  const dl = s.sink.deadLetters.records;
  assert.equal(dl.length, 3);
  for (const r of dl) {
    assert.equal(r.headers['walrelay.error.stage'], 'table');
    assert.equal(r.headers['walrelay.table'], 'others');
    assert.match(r.headers['walrelay.error'] ?? '', /target table others \(topic t\.public\.others\) is refused: .*outside the Unicode BMP/);
  }
  assert.equal(s.target.offset('g', s.others.topic, 0), 3n, 'its offsets move on');
  assert.equal(await metric(s.sink, 'walrelay_sink_table_refused_records_total', { table: 'others' }), 3);
  assert.equal(await metric(s.sink, 'walrelay_sink_table_refused', { table: 'others' }), 1);
  // Later records: the refused table's go to the DLQ at once, the other table's apply.
  s.log.append(s.others.topic, 0, s.others.change('c', { id: 4n, w: 'x' }));
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 4n, v: 'x' }));
  await s.sink.source.drain();
  assert.deepEqual(ids(s.target, 'items'), [1n, 2n, 3n, 4n]);
  assert.equal(s.sink.deadLetters.records.length, 4);
  assert.equal(s.sink.runtime.state, 'running');
  s.sink.runtime.stop();
  await s.sink.running;
});

test('a table the target cannot create, under fail: the sink stops naming the table and the reason (a ConfigError: exit code 2)', async () => {
  const s = setup('fail');
  s.target.refuseTable = (t) => (t.name === 'others' ? 'MySQL identifier "w🦭" contains characters outside the Unicode BMP' : undefined);
  s.log.append(s.others.topic, 0, s.others.change('c', { id: 1n, w: 'x' }));
  await started(s);
  await s.sink.source.drain();
  await until('the sink to stop', () => s.sink.outcome());
  const error = s.sink.outcome()!.error as Error;
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(error.message, /target table others .*refused: .*outside the Unicode BMP.*onError=fail/);
  assert.equal(s.target.offset('g', s.others.topic, 0), undefined);
});

test('a pre-existing target table without a primary key is refused naming the key it needs; the other table goes on', async () => {
  const s = setup('dlq');
  s.target.createRaw('items', ['id', 'v'], []);
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'x' }));
  s.log.append(s.items.topic, 0, s.items.change('u', { id: 1n, v: 'y' }));
  s.log.append(s.others.topic, 0, s.others.change('c', { id: 1n, w: 'x' }));
  await started(s);
  await s.sink.source.drain();
  assert.deepEqual(s.target.rows('items'), [], 'no row written, so none duplicated');
  assert.deepEqual(ids(s.target, 'others'), [1n]);
  assert.equal(s.sink.deadLetters.records.length, 2);
  assert.match(s.sink.deadLetters.records[0]!.headers['walrelay.error'] ?? '', /target table items has no primary key; walrelay needs PRIMARY KEY \(id\)/);
  s.sink.runtime.stop();
  await s.sink.running;
});

test('a pre-existing target table with another primary key is refused naming the expected and the found key (fail)', async () => {
  const s = setup('fail');
  s.target.createRaw('items', ['id', 'v'], ['v']);
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'x' }));
  await started(s);
  await s.sink.source.drain();
  await until('the sink to stop', () => s.sink.outcome());
  assert.match((s.sink.outcome()!.error as Error).message, /target table items has PRIMARY KEY \(v\), but the source's key is \(id\)/);
  assert.deepEqual(s.target.rows('items'), []);
});

test('a pre-existing target table with the right key gains the missing columns, as before', async () => {
  const s = setup('fail');
  s.target.createRaw('items', ['id'], ['id']);
  s.log.append(s.items.topic, 0, s.items.change('c', { id: 1n, v: 'x' }));
  await started(s);
  await s.sink.source.drain();
  assert.deepEqual(s.target.tables.get('items')?.columns, ['id', 'v']);
  assert.deepEqual(s.target.rows('items'), [{ id: 1n, v: 'x' }]);
  s.sink.runtime.stop();
  await s.sink.running;
});

test('two source tables mapping to one target name: both are refused (whichever arrives first), the others go on', async () => {
  const w = world();
  const target = new MemoryTarget(w.events);
  const a = new TableTopic(w.schemas, 't.public.items', itemsShape);
  const b = new TableTopic(w.schemas, 't.sales.items', { ...itemsShape, schema: 'sales' });
  const others = new TableTopic(w.schemas, 't.public.others', othersShape);
  for (const t of [a, b, others]) w.log.create(t.topic, 1);
  w.log.append(a.topic, 0, a.change('c', { id: 1n, v: 'public' }));
  w.log.append(b.topic, 0, b.change('c', { id: 1n, v: 'sales' }));
  w.log.append(others.topic, 0, others.change('c', { id: 1n, w: 'x' }));
  const sink = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ onError: 'dlq' }) });
  await until('running', () => sink.runtime.state === 'running');
  await w.group.rebalance();
  await sink.source.drain();
  assert.equal(target.tables.has('items'), false, 'neither writes the shared name');
  assert.deepEqual(ids(target, 'others'), [1n]);
  assert.deepEqual(sink.deadLetters.records.map((r) => r.headers['walrelay.topic']).sort(), [a.topic, b.topic]);
  assert.match(sink.deadLetters.records[0]!.headers['walrelay.error'] ?? '', /source tables public\.items \(topic t\.public\.items\) and sales\.items \(topic t\.sales\.items\) both map to target table items: name one of them in tableNames/);
  sink.runtime.stop();
  await sink.running;
});

test('tableNames resolves the clash: both tables apply, each to its own name', async () => {
  const w = world();
  const target = new MemoryTarget(w.events);
  const a = new TableTopic(w.schemas, 't.public.items', itemsShape);
  const b = new TableTopic(w.schemas, 't.sales.items', { ...itemsShape, schema: 'sales' });
  for (const t of [a, b]) w.log.create(t.topic, 1);
  w.log.append(a.topic, 0, a.change('c', { id: 1n, v: 'public' }));
  w.log.append(b.topic, 0, b.change('c', { id: 1n, v: 'sales' }));
  const sink = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ tableNames: { 'sales.items': 'sales_items' } }) });
  await until('running', () => sink.runtime.state === 'running');
  await w.group.rebalance();
  await sink.source.drain();
  assert.deepEqual(target.rows('items'), [{ id: 1n, v: 'public' }]);
  assert.deepEqual(target.rows('sales_items'), [{ id: 1n, v: 'sales' }]);
  sink.runtime.stop();
  await sink.running;
});

test('a source table that appears later under a name another already writes is refused, in a process that never saw the holder and after a restart; the holder goes on', async () => {
  const w = world();
  const target = new MemoryTarget(w.events);
  const a = new TableTopic(w.schemas, 't.public.items', itemsShape);
  w.log.create(a.topic, 1);
  w.log.append(a.topic, 0, a.change('c', { id: 1n, v: 'public' }));
  const first = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ onError: 'dlq' }) });
  await until('running', () => first.runtime.state === 'running');
  await w.group.rebalance();
  await first.source.drain();
  assert.deepEqual(target.rows('items'), [{ id: 1n, v: 'public' }]);
  assert.deepEqual(target.owners.get('items'), { table: 'items', topic: a.topic, source: 'public.items' }, 'the claim is stored in the target');
  first.runtime.stop();
  await first.running;

  // A new process (nothing in memory): sales.items's topic exists, its schema comes only after the subscription.
  const bTopic = 't.sales.items';
  w.log.create(bTopic, 1);
  const second = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ onError: 'dlq' }) });
  await until('running', () => second.runtime.state === 'running');
  await w.group.rebalance();
  const b = new TableTopic(w.schemas, bTopic, { ...itemsShape, schema: 'sales' });
  w.log.append(b.topic, 0, b.change('c', { id: 1n, v: 'sales' }));
  w.log.append(b.topic, 0, b.change('c', { id: 7n, v: 'sales' }));
  w.log.append(a.topic, 0, a.change('c', { id: 2n, v: 'public' }));
  await second.source.drain();
  assert.deepEqual(target.rows('items').sort((x, y) => Number((x['id'] as bigint) - (y['id'] as bigint))), [{ id: 1n, v: 'public' }, { id: 2n, v: 'public' }], 'no row of sales.items mixed in');
  assert.deepEqual(second.deadLetters.records.map((r) => `${r.headers['walrelay.topic']}@${r.headers['walrelay.offset']}`), [`${bTopic}@0`, `${bTopic}@1`]);
  assert.match(second.deadLetters.records[0]!.headers['walrelay.error'] ?? '', /source table sales\.items \(topic t\.sales\.items\) maps to target table items, which source table public\.items \(topic t\.public\.items\) writes: name one of them in tableNames/);
  second.runtime.stop();
  await second.running;

  // After a restart, with both schemas known at subscription: the holder still writes, only the newcomer is refused.
  w.log.append(a.topic, 0, a.change('c', { id: 3n, v: 'public' }));
  w.log.append(b.topic, 0, b.change('c', { id: 8n, v: 'sales' }));
  const third = startSink({ driver: target, group: w.group, schemas: w.schemas, config: testConfig({ onError: 'dlq' }) });
  await until('running', () => third.runtime.state === 'running');
  await w.group.rebalance();
  await third.source.drain();
  assert.deepEqual(target.rows('items').map((r) => r['id']).sort(), [1n, 2n, 3n]);
  assert.deepEqual(third.deadLetters.records.map((r) => `${r.headers['walrelay.topic']}@${r.headers['walrelay.offset']}`), [`${bTopic}@2`]);
  assert.match(third.deadLetters.records[0]!.headers['walrelay.error'] ?? '', /which public\.items \(topic t\.public\.items\) already writes: name sales\.items in tableNames/);
  third.runtime.stop();
  await third.running;
});
