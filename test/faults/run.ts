import { parseArgs } from 'node:util';
import { FULL, SHORT, formatResult, runFaultSuite, type FaultOptions } from './suite.js';

/**
 * npm run test:faults [-- --full] [--changes N] [--kills N] [--broker-restarts N] [--pg-restarts N]
 *                     [--mariadb-restarts N] [--rebalances N] [--gap S] [--seed N] [--late-rows N] [--keep]
 * Environment: WALRELAY_FAULTS_FULL=1 is --full. Exit code 0 only when every target equals
 * PostgreSQL and the audit table shows no gap and no duplicate.
 */
const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: process.env.WALRELAY_FAULTS_FULL === '1' },
    changes: { type: 'string' },
    kills: { type: 'string' },
    'broker-restarts': { type: 'string' },
    'pg-restarts': { type: 'string' },
    'mariadb-restarts': { type: 'string' },
    rebalances: { type: 'string' },
    gap: { type: 'string' },
    seed: { type: 'string' },
    settle: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'late-rows': { type: 'string' },
  },
});
const base = values.full ? FULL : SHORT;
const num = (v: string | undefined, d: number): number => (v === undefined ? d : Number(v));
const options: FaultOptions = {
  changes: num(values.changes, base.changes),
  kills: num(values.kills, base.kills),
  brokerRestarts: num(values['broker-restarts'], base.brokerRestarts),
  pgRestarts: num(values['pg-restarts'], base.pgRestarts),
  mariadbRestarts: num(values['mariadb-restarts'], base.mariadbRestarts),
  rebalances: num(values.rebalances, base.rebalances),
  gapSeconds: num(values.gap, base.gapSeconds),
  seed: num(values.seed, base.seed),
  settleSeconds: num(values.settle, base.settleSeconds),
  keep: values.keep ?? false,
  toastBytes: base.toastBytes,
  lateTableRows: num(values['late-rows'], base.lateTableRows),
  log: (line) => console.log(line),
};
// First SIGINT/SIGTERM: stop injecting and writing, then check and report; a second one exits.
const interrupt = new AbortController();
options.signal = interrupt.signal;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupt.signal.aborted) process.exit(130);
    console.log(`[faults] ${sig}: stopping the faults and the workload; checking the targets (again to exit at once)`);
    interrupt.abort();
  });
}
console.log(`fault suite (${values.full ? 'full' : 'short'}): ${JSON.stringify({ ...options, log: undefined, signal: undefined })}`);
try {
  const result = await runFaultSuite(options);
  console.log(formatResult(result));
  process.exit(result.ok && !result.interrupted ? 0 : 1);
} catch (e) {
  console.error(`fault suite failed to run: ${(e as Error).stack ?? e}`);
  process.exit(2);
}
