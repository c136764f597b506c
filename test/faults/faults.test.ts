import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHORT, formatResult, runFaultSuite } from './suite.js';

/**
 * The short fault suite (CI): a few thousand changes while the source and both sinks are
 * killed twice each, the broker, PostgreSQL and MariaDB restarted once, and a second sink
 * joins and leaves each group. Every target must equal PostgreSQL afterwards and the audit
 * table must show no gap and no duplicate. `npm run test:faults -- --full` is the long run.
 */
test('fault suite (short): every target equals the source after kills and restarts', { timeout: 420_000 }, async () => {
  const lines: string[] = [];
  const result = await runFaultSuite({ ...SHORT, log: (l) => {
    lines.push(l);
    console.log(l);
  } });
  const report = formatResult(result);
  console.log(report);
  assert.ok(result.ok, report);
  assert.equal(result.injections.length, 3 * SHORT.kills + SHORT.brokerRestarts + SHORT.pgRestarts + SHORT.mariadbRestarts + 2 * SHORT.rebalances);
});
