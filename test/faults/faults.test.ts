import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHORT, formatResult, runFaultSuite } from './suite.js';

/**
 * The short fault suite (CI): a few thousand changes while the source and both sinks are
 * killed twice each, the broker, PostgreSQL and MariaDB restarted once, and a second sink
 * joins and leaves each group. Every target must equal PostgreSQL afterwards and the audit
 * table must show no gap and no duplicate. The table lifecycle runs under the same faults: a
 * table holding rows joins the publication mid-run (the source is killed during its incremental
 * snapshot) and `narrow` gains a column with a default. `npm run test:faults -- --full` is the long run.
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
  // The scheduled faults, plus the table lifecycle's kill of the source during the incremental snapshot of `late`.
  assert.equal(result.injections.length, 3 * SHORT.kills + SHORT.brokerRestarts + SHORT.pgRestarts + SHORT.mariadbRestarts + 2 * SHORT.rebalances + 1);
  assert.ok(result.injections.some((i) => i.fault === 'kill source (during the incremental snapshot of late)'), 'the source was killed during the incremental snapshot');
});
