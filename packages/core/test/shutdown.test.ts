import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/hanging-service.ts', import.meta.url));

test('SIGTERM exits within shutdownTimeoutMs even when the work ignores stop(), saying what it waited for', async () => {
  const child = spawn(process.execPath, ['--conditions=development', '--import', 'tsx', fixture], {
    env: { ...process.env, WALRELAY_SHUTDOWN_TIMEOUT_MS: '1500', WALRELAY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!err.includes('"msg":"working"')) {
    assert.ok(Date.now() < deadline, `the fixture did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const started = Date.now();
  child.kill('SIGTERM');
  const code = await exited;
  const ms = Date.now() - started;
  assert.equal(code, 0, err);
  assert.ok(ms >= 1_400 && ms < 5_000, `exited after ${ms} ms`);
  const lines = err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.find((l) => /shutdown did not finish within 1500 ms/.test(String(l.msg)));
  assert.ok(last, err);
  assert.equal(last.waitingFor, 'waiting on something that never answers');
});
