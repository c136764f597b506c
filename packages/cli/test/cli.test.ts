import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, EXIT, HELP, runCli, table } from '../src/index.js';

/** Usage handling of `walrelay` (no service is reached: every case ends before connecting). */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
  return { code, out, err };
}

test('--help lists every setting with its variable and the exit codes', async () => {
  const r = await run(['--help']);
  assert.equal(r.code, EXIT.ok);
  assert.equal(r.out, HELP);
  for (const v of ['WALRELAY_PG_URL', 'WALRELAY_KAFKA_BROKERS', 'WALRELAY_SCHEMA_REGISTRY_URL', 'WALRELAY_TOPIC_PREFIX', 'WALRELAY_SLOT', 'WALRELAY_GROUP_ID', 'WALRELAY_TARGET_URL']) assert.ok(r.out.includes(v), v);
  assert.match(r.out, /Exit codes:/);
});

test('usage errors exit 2 and name what is wrong', async () => {
  assert.deepEqual(await run([]).then((r) => [r.code, /missing command/.test(r.err)]), [EXIT.usage, true]);
  assert.deepEqual(await run(['status', 'extra']).then((r) => [r.code, /unexpected argument "extra"/.test(r.err)]), [EXIT.usage, true]);
  assert.deepEqual(await run(['status', '--force']).then((r) => [r.code, /--force does not apply/.test(r.err)]), [EXIT.usage, true]);
  assert.deepEqual(await run(['drop-source', '--json']).then((r) => [r.code, /--json does not apply/.test(r.err)]), [EXIT.usage, true]);
  const bad = await run(['status', '--max-lag-records', 'lots']);
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.err, /thresholds\.maxLagRecords \(WALRELAY_STATUS_MAX_LAG_RECORDS\): expected a whole number, got "lots"/);
  const url = await run(['status'], { WALRELAY_PG_URL: 'mysql://x' });
  assert.equal(url.code, EXIT.usage);
  assert.match(url.err, /postgres\.url \(WALRELAY_PG_URL\): expected a postgres:\/\/ URL/);
});

test('table aligns columns; bytes uses binary units', () => {
  assert.equal(table([['a', 'bb'], ['ccc', 'd']]), 'a    bb\nccc  d');
  assert.equal(bytes(56), '56 B');
  assert.equal(bytes(1992294), '1.9 MiB');
  assert.equal(bytes(null), '-');
});
