import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicationLagClock } from '../src/replication-lag.js';

const PG_EPOCH_MS = 946_684_800_000;
const micros = (unixMs: number): bigint => BigInt(unixMs - PG_EPOCH_MS) * 1000n;

test('lag seconds: the age of the oldest commit not yet in Kafka; 0 when nothing is pending; kept while nothing is confirmed', () => {
  let now = 1_800_000_000_000;
  const clock = new ReplicationLagClock(() => now);
  assert.equal(clock.seconds, 0);
  clock.received(micros(now - 2_000));
  clock.received(micros(now - 1_000)); // a later transaction does not hide the older one
  assert.equal(clock.seconds, 2);
  now += 10_000; // nothing confirmed (e.g. the source keeps failing on that transaction)
  assert.equal(clock.seconds, 12);
  clock.confirmed(micros(now - 500)); // committed, but a large transaction is still open
  assert.equal(clock.seconds, 0.5);
  clock.confirmed(null);
  assert.equal(clock.seconds, 0);
});
