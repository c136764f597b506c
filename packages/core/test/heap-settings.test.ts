import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_NODE_FLAGS, heapFlagsToAdd } from '../src/heap-settings.js';

test('heap flags: the defaults when none is given; none when the operator gave one (command line or NODE_OPTIONS) or emptied WALRELAY_NODE_FLAGS', () => {
  assert.deepEqual(heapFlagsToAdd([], {}), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd(['--conditions=development', '--import', 'tsx'], {}), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd(['--max-old-space-size=512'], {}), []);
  assert.deepEqual(heapFlagsToAdd(['--max_semi_space_size=32'], {}), []);
  assert.deepEqual(heapFlagsToAdd([], { NODE_OPTIONS: '--enable-source-maps --max-old-space-size=300' }), []);
  assert.deepEqual(heapFlagsToAdd([], { NODE_OPTIONS: '--enable-source-maps' }), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd([], { WALRELAY_NODE_FLAGS: '' }), []);
  assert.deepEqual(heapFlagsToAdd([], { WALRELAY_NODE_FLAGS: '--max-semi-space-size=4  --max-old-space-size=200' }), ['--max-semi-space-size=4', '--max-old-space-size=200']);
});

/** Runs a node process that imports the module, and reports its pid, its flags and V8's young generation limit. */
function run(env: Record<string, string>, nodeArgs: string[] = []): { pid: number; childPid: number | undefined; execArgv: string[] } {
  const script = `await import(${JSON.stringify(new URL('../src/heap-settings.ts', import.meta.url).href)}); console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv }));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { pid: number; execArgv: string[] };
  return { ...out, childPid: r.pid };
}

test('a binary restarts itself in place with the heap flags: same PID, flags in its command, once', () => {
  const env = { NODE_OPTIONS: '' };
  delete (env as Record<string, string | undefined>).WALRELAY_NODE_FLAGS;
  const withDefaults = run({ ...env, WALRELAY_NODE_FLAGS: DEFAULT_NODE_FLAGS.join(' ') });
  assert.equal(withDefaults.pid, withDefaults.childPid, 'the same process (execve), not a child');
  for (const f of DEFAULT_NODE_FLAGS) assert.equal(withDefaults.execArgv.filter((a) => a === f).length, 1, `${f} once in ${withDefaults.execArgv.join(' ')}`);
  const operator = run({ ...env, WALRELAY_NODE_FLAGS: DEFAULT_NODE_FLAGS.join(' ') }, ['--max-old-space-size=300']);
  assert.deepEqual(operator.execArgv.filter((a) => a.startsWith('--max') || a.startsWith('--heap')), ['--max-old-space-size=300']);
  const off = run({ ...env, WALRELAY_NODE_FLAGS: '' });
  assert.equal(off.execArgv.some((a) => a.startsWith('--max-semi') || a.startsWith('--heap')), false);
});
