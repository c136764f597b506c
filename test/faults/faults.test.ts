import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHORT, formatResult, runFaultSuite } from './suite.js';

/**
 * The short fault suite (CI): a few thousand changes while the source and both sinks are
 * killed twice each, the broker, PostgreSQL and MariaDB restarted once, and a second sink
 * joins and leaves each group. Every target must equal PostgreSQL afterwards, the audit
 * table must show no gap and no duplicate, and no process may exit on its own. The table lifecycle runs under the same faults: a
 * table holding rows joins the publication mid-run (the source is killed during its incremental
 * snapshot), `narrow` gains a column with a default, `late` renames a column and widens another
 * with values above 2^31, and the slot is dropped once (onSlotLost: resync). `npm run test:faults
 * -- --full` is the long run.
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
  // The scheduled faults, plus the table lifecycle's kill of the source during the incremental
  // snapshot of `late` and its dropped slot.
  assert.equal(result.injections.length, 3 * SHORT.kills + SHORT.brokerRestarts + SHORT.pgRestarts + SHORT.mariadbRestarts + 2 * SHORT.rebalances + 2);
  assert.ok(result.injections.some((i) => i.fault === 'kill source (during the incremental snapshot of late)'), 'the source was killed during the incremental snapshot');
  assert.ok(result.injections.some((i) => i.fault === 'drop the slot (onSlotLost: resync)'), 'the slot was dropped and resynced');
  assert.ok(result.topicAudit.snapshotRecords > 0, 'the resync read the audit table again');
});
