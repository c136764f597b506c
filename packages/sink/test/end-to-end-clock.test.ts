import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '@walrelay/core';
import { EndToEndClock } from '../src/end-to-end-clock.js';

async function value(registry: Registry, name: string, table?: string): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values as { value: number; labels: Record<string, string> }[] | undefined)?.find((v) => table === undefined || v.labels.table === table)?.value;
}

test('the clock keeps the newest commit per table, ignores snapshot reads, and reports its age', async () => {
  const registry = new Registry();
  const clock = new EndToEndClock(registry);
  assert.ok(Number.isNaN(await value(registry, 'walrelay_sink_last_change_age_seconds')), 'NaN before any change');
  const now = Date.now();
  clock.applied({ schema: 'public', table: 'orders', ts_ms: BigInt(now - 5000), snapshot: 'false' });
  clock.applied({ schema: 'public', table: 'orders', ts_ms: BigInt(now - 9000), snapshot: 'false' }); // older: ignored
  clock.applied({ schema: 'public', table: 'hb', ts_ms: BigInt(now - 1000), snapshot: 'true' }); // snapshot read: ignored
  assert.equal(await value(registry, 'walrelay_sink_last_change_commit_timestamp_seconds', 'public.orders'), (now - 5000) / 1000);
  assert.equal(await value(registry, 'walrelay_sink_last_change_commit_timestamp_seconds', 'public.hb'), undefined);
  const age = (await value(registry, 'walrelay_sink_last_change_age_seconds')) as number;
  assert.ok(age >= 5 && age < 6, `age ${age}`);
  clock.applied({ schema: 'public', table: 'hb', ts_ms: BigInt(now - 500) });
  assert.ok(((await value(registry, 'walrelay_sink_last_change_age_seconds')) as number) < 1.5);
});
