import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry } from '@walrelay/core';
import { createSourceMetrics } from '../src/metrics.js';

/** The value of one sample line, e.g. walrelay_source_changes_total{table="public.a",op="c"}. */
async function sample(text: Promise<string>, name: string, labels = ''): Promise<number | undefined> {
  for (const line of (await text).split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3]);
  }
  return undefined;
}

test("the stream's per-change counts reach the counters when the registry is read, once each", async () => {
  const registry = createMetricsRegistry('walrelay-source');
  const metrics = createSourceMetrics(registry);
  for (let i = 0; i < 5; i++) metrics.counts.change('public.a', 'c');
  metrics.counts.change('public.a', 'u');
  metrics.counts.change('public.b', 'd');
  metrics.counts.bytes(100);
  metrics.counts.bytes(23);
  // A snapshot's chunk counts through the counter itself: both add up.
  metrics.changes.inc({ table: 'public.a', op: 'c' }, 10);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_changes_total', 'table="public.a",op="c"'), 15);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_changes_total', 'table="public.a",op="u"'), 1);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_changes_total', 'table="public.b",op="d"'), 1);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_bytes_total'), 123);
  // Read again with nothing new: the same totals (pending counts are not added twice).
  metrics.counts.change('public.b', 'd');
  assert.equal(await sample(registry.metrics(), 'walrelay_source_changes_total', 'table="public.a",op="c"'), 15);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_changes_total', 'table="public.b",op="d"'), 2);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_bytes_total'), 123);
});

test("the stream's waits reach walrelay_source_wait_seconds_total in seconds, every label from the first read, once each", async () => {
  const registry = createMetricsRegistry('walrelay-source');
  const metrics = createSourceMetrics(registry);
  // Before any wait: every label is there at 0, so a rate over it exists from the start.
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="commit"'), 0);
  metrics.waits.add('input', 1500);
  metrics.waits.add('input', 500);
  metrics.waits.add('produce', 250);
  metrics.waits.add('commit', -3); // a clock step backwards is not a wait
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="input"'), 2);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="produce"'), 0.25);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="commit"'), 0);
  // Read again: the same totals, then what was added since.
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="input"'), 2);
  metrics.waits.add('commit', 40);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="commit"'), 0.04);
  assert.equal(await sample(registry.metrics(), 'walrelay_source_wait_seconds_total', 'waiting_for="input"'), 2);
});
