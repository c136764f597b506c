import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplyError, ConnectionError } from '@walrelay/core';
import { MemoryTarget } from './support/memory-target.js';
import { column, startSink, TableTopic, testConfig, until, world } from './support/fixtures.js';

const shape = { schema: 'public', table: 'items', columns: [column('id', 'int64', 1), column('v', 'text')] };

function setup(partitions = 1) {
  const w = world();
  const target = new MemoryTarget(w.events);
  const items = new TableTopic(w.schemas, 't.public.items', shape);
  w.log.create(items.topic, partitions);
  return { ...w, target, items };
}

test('changes are applied in one target transaction per chunk, and the Kafka offset is committed only after it', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 5; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: `v${i}` }));
  log.append(items.topic, 0, items.change('u', { id: 2n, v: 'two' }));
  log.append(items.topic, 0, items.change('d', { id: 3n }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.drain();
  assert.deepEqual(target.rows('items').map((r) => [r['id'], r['v']]).sort(), [[1n, 'v1'], [2n, 'two'], [4n, 'v4'], [5n, 'v5']]);
  assert.equal(target.offset('g', items.topic, 0), 7n);
  assert.equal(target.commits, 1, 'one transaction for the whole batch');
  const targetAt = events.indexOf(`target ${items.topic}/0@7`);
  const kafkaAt = events.indexOf(`kafka ${items.topic}/0@7`);
  assert.ok(targetAt >= 0 && kafkaAt > targetAt, `target commit before Kafka commit: ${events.events.join(' | ')}`);
  assert.equal(JSON.parse(group.committed.get(`${items.topic}/0`)!.metadata).lsn, '1070');
  sink.runtime.stop();
  await sink.running;
  assert.deepEqual(sink.outcome(), {});
  assert.equal(sink.runtime.state, 'stopped');
});

test('after a chunk commits, the clock holds its newest commit time and every streamed change is timed (snapshot reads are not)', async () => {
  const { target, items, log, group, schemas } = setup();
  const base = BigInt(Date.now()) - 60_000n;
  log.append(items.topic, 0, items.change('c', { id: 1n, v: 'a' }, { ts_ms: base + 1000n }));
  log.append(items.topic, 0, items.change('c', { id: 2n, v: 'b' }, { ts_ms: base + 5000n }));
  log.append(items.topic, 0, items.change('u', { id: 1n, v: 'c' }, { ts_ms: base + 3000n }));
  log.append(items.topic, 0, items.change('r', { id: 3n, v: 'd' }, { ts_ms: base + 9000n, snapshot: 'true' }));
  log.append(items.topic, 0, items.change('r', { id: 4n, v: 'e' }, { ts_ms: base + 9500n, snapshot: 'incremental' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.commits, 1, 'one chunk');
  const metrics = await sink.registry.getMetricsAsJSON();
  const commit = metrics.find((m) => m.name === 'walrelay_sink_last_change_commit_timestamp_seconds')?.values ?? [];
  assert.deepEqual(commit.map((v) => [v.labels['table'], v.value]), [['public.items', Number(base + 5000n) / 1000]]);
  const timed = metrics.find((m) => m.name === 'walrelay_sink_end_to_end_seconds')?.values.find((v) => (v as { metricName?: string }).metricName === 'walrelay_sink_end_to_end_seconds_count');
  assert.equal(timed?.value, 3);
  sink.runtime.stop();
  await sink.running;
});

test('a batch is applied in chunks of batch.maxRecords, each committed to the target before Kafka', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 10; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  const sink = startSink({ driver: target, group, schemas, config: testConfig({ batch: { maxRecords: 4 } }) });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.commits, 3);
  const order = events.events.filter((e) => e.includes(items.topic));
  assert.deepEqual(order, [`target ${items.topic}/0@4`, `kafka ${items.topic}/0@4`, `target ${items.topic}/0@8`, `kafka ${items.topic}/0@8`, `target ${items.topic}/0@10`, `kafka ${items.topic}/0@10`]);
  sink.runtime.stop();
  await sink.running;
});

test('a target transaction that fails for good commits nothing to Kafka and stops the sink (non-retriable error)', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 3; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  target.failStatement(1, new ApplyError('permission denied for table items', { retriable: false }));
  await group.rebalance();
  await sink.source.drain();
  await until('the sink to stop', () => sink.outcome());
  assert.match(String((sink.outcome()!.error as Error).message), /permission denied/);
  assert.equal(sink.runtime.state, 'failed');
  assert.deepEqual(events.matching('kafka'), [], 'no Kafka commit for a failed target transaction');
  assert.deepEqual(target.rows('items'), []);
  assert.equal(target.offset('g', items.topic, 0), undefined);
});

test('a retriable error on the Nth statement is retried in place: the rows land once, the retry is counted', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 3; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  log.append(items.topic, 0, items.change('d', { id: 1n }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  // The batch runs a delete step, an upsert step and the offsets write: the second fails once.
  target.failStatement(2, new ApplyError('Deadlock found when trying to get lock', { retriable: true }));
  await group.rebalance();
  await sink.source.drain();
  assert.deepEqual(target.rows('items').map((r) => r['id']).sort(), [2n, 3n]);
  assert.equal(target.commits, 1);
  assert.equal((await sink.registry.getSingleMetric('walrelay_sink_retries_total')!.get()).values[0]?.value, 1);
  assert.deepEqual(events.matching('kafka'), [`kafka ${items.topic}/0@4`]);
  sink.runtime.stop();
  await sink.running;
});

test('the connection lost before COMMIT: the retry applies the batch once', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 3; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  target.loseConnectionAtCommit('before');
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.commits, 1);
  assert.equal(target.rows('items').length, 3);
  assert.deepEqual(events.matching('kafka'), [`kafka ${items.topic}/0@3`]);
  sink.runtime.stop();
  await sink.running;
});

test('the connection lost after COMMIT: the retry is fenced off, nothing is applied twice, the position stays the target\'s', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 3; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  // Offsets 0..2 commit, the answer is lost; then the same records again would be refused.
  target.loseConnectionAtCommit('after');
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.commits, 1, 'the retried transaction was refused by the fence');
  assert.equal(target.offset('g', items.topic, 0), 3n);
  // Later records still apply from the target's position.
  log.append(items.topic, 0, items.change('u', { id: 1n, v: 'later' }));
  await sink.source.drain();
  assert.equal(target.rows('items').find((r) => r['id'] === 1n)?.['v'], 'later');
  assert.equal(target.offset('g', items.topic, 0), 4n);
  assert.ok(events.indexOf(`target ${items.topic}/0@4`) < events.indexOf(`kafka ${items.topic}/0@4`));
  sink.runtime.stop();
  await sink.running;
});

test('restart policy: a target unreachable at start is retried until it answers; a non-retriable start error fails the run', async () => {
  const { target, items, log, group, schemas } = setup();
  log.append(items.topic, 0, items.change('c', { id: 1n, v: 'x' }));
  target.failConnect(new ConnectionError('memory', 'ECONNREFUSED', { retriable: true }));
  target.failConnect(new ConnectionError('memory', 'ECONNREFUSED', { retriable: true }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running after two failed connects', () => sink.runtime.state === 'running');
  assert.equal(target.connects, 1);
  assert.match(sink.runtime.lastError ?? '', /ECONNREFUSED/);
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.rows('items').length, 1);
  sink.runtime.stop();
  await sink.running;

  const other = new MemoryTarget();
  other.failConnect(new ConnectionError('memory', 'password authentication failed', { retriable: false }));
  const failing = startSink({ driver: other, group: world().group, schemas });
  await until('the run to fail', () => failing.outcome());
  assert.match((failing.outcome()!.error as Error).message, /password authentication failed/);
  assert.equal(failing.runtime.state, 'failed');
  assert.equal(failing.runtime.live(), false);
});

test('a retriable error that outlasts every in-place attempt goes back to the source, which redelivers; nothing reaches Kafka before the target', async () => {
  const { target, items, log, group, schemas, events } = setup();
  log.append(items.topic, 0, items.change('c', { id: 1n, v: 'x' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  for (let i = 1; i <= 9; i++) target.failStatement(i, new ApplyError('Lock wait timeout exceeded', { retriable: true }));
  await group.rebalance();
  await sink.source.pump();
  assert.equal(sink.source.errors.length, 1, 'the 9th failure was handed back to the source');
  assert.deepEqual(events.matching('kafka'), []);
  assert.equal(sink.runtime.state, 'running', 'a retriable error does not stop the sink');
  await sink.source.drain();
  assert.equal(target.rows('items').length, 1);
  assert.deepEqual(events.matching('kafka'), [`kafka ${items.topic}/0@1`]);
  sink.runtime.stop();
  await sink.running;
});

test('a truncate marker on a one-partition topic is applied after changes whose schemas are known (its key is not Avro)', async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 3; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  log.append(items.topic, 0, items.marker(1));
  log.append(items.topic, 0, items.change('c', { id: 9n, v: 'after' }));
  const sink = startSink({ driver: target, group, schemas });
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.drain();
  assert.deepEqual(target.rows('items').map((r) => [r['id'], r['v']]), [[9n, 'after']]);
  assert.equal(target.offset('g', items.topic, 0), 5n);
  assert.equal(sink.deadLetters.records.length, 0, 'nothing dead-lettered');
  assert.ok(events.matching('kafka').length > 0);
  sink.runtime.stop();
  await sink.running;
});

test('the Kafka offset commit is not waited for: a slow coordinator holds no chunk back, the newest position wins, and a stop sends it before leaving', { timeout: 20_000 }, async () => {
  const { target, items, log, group, schemas, events } = setup();
  for (let i = 1; i <= 12; i++) log.append(items.topic, 0, items.change('c', { id: BigInt(i), v: 'x' }));
  const sink = startSink({ driver: target, group, schemas, config: testConfig({ batch: { maxRecords: 4 } }) });
  // The coordinator answers nothing until released.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const commit = sink.source.commit.bind(sink.source);
  const sent: string[] = [];
  sink.source.commit = async (topic, partition, nextOffset, metadata) => {
    sent.push(`${partition}@${nextOffset}`);
    await gate;
    await commit(topic, partition, nextOffset, metadata);
  };
  await until('running', () => sink.runtime.state === 'running');
  await group.rebalance();
  await sink.source.drain();
  // Every chunk reached the target although the first Kafka commit is still unanswered.
  assert.equal(target.offset('g', items.topic, 0), 12n);
  assert.equal(target.commits, 3);
  assert.deepEqual(sent, ['0@4'], 'one commit in flight; the later positions wait, coalesced');
  assert.equal(group.committed.get(`${items.topic}/0`), undefined);
  sink.runtime.stop();
  // The stop waits for the queued commits: the run has not ended while the coordinator is silent.
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(sink.outcome(), undefined, 'the stop waits for the unanswered Kafka commit');
  release();
  await sink.running;
  assert.deepEqual(sent, ['0@4', '0@12'], 'the newest position replaced 0@8 in the queue');
  assert.equal(group.committed.get(`${items.topic}/0`)?.offset, 12n, 'the group ends at the target position');
  const kafka = events.events.filter((e) => e.startsWith('kafka'));
  assert.deepEqual(kafka, [`kafka ${items.topic}/0@4`, `kafka ${items.topic}/0@12`], 'commits in order');
});

test('a session that ended ignores what its consumer still reports: a late assignment or crash of it does not end the next session', { timeout: 20_000 }, async () => {
  const { target, items, log, group, schemas } = setup();
  log.append(items.topic, 0, items.change('c', { id: 1n, v: 'one' }));
  const sink = startSink({ driver: target, group, schemas });
  let starts = 0;
  const start = sink.source.start.bind(sink.source);
  sink.source.start = (handlers) => {
    starts++;
    return start(handlers);
  };
  await until('running', () => sink.runtime.state === 'running');
  const old = sink.source.handlers!;
  // The session fails (a retriable consumer crash): the runtime starts the next one.
  old.failed(new ConnectionError('kafka', 'consumer crashed: Closed connection', { retriable: true }));
  await until('the next session', () => sink.runtime.state === 'running' && sink.source.handlers !== old);
  const sessions = starts;
  // The old consumer, not yet gone, joins again and crashes again: neither reaches the new session.
  old.assigned(new Map([[items.topic, [0]]]));
  old.failed(new ConnectionError('kafka', 'consumer crashed: The coordinator is loading', { retriable: true }));
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(starts, sessions, 'no further session restart');
  assert.equal(sink.runtime.state, 'running');
  await group.rebalance();
  await sink.source.drain();
  assert.equal(target.offset('g', items.topic, 0), 1n, 'the new session applies');
  sink.runtime.stop();
  await sink.running;
  assert.deepEqual(sink.outcome(), {});
});
