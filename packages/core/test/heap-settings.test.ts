import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_MALLOC_TUNABLES, DEFAULT_NODE_FLAGS, heapFlagsToAdd, mallocTunablesToAdd, SQLITE_SINK_NODE_FLAGS } from '../src/heap-settings.js';

test('heap flags: the defaults when none is given; none when the operator gave one (command line or NODE_OPTIONS) or emptied WALRELAY_NODE_FLAGS', () => {
  assert.deepEqual(heapFlagsToAdd([], {}), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd(['--conditions=development', '--import', 'tsx'], {}), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd(['--max-old-space-size=512'], {}), []);
  assert.deepEqual(heapFlagsToAdd(['--max_semi_space_size=32'], {}), []);
  assert.deepEqual(heapFlagsToAdd([], { NODE_OPTIONS: '--enable-source-maps --max-old-space-size=300' }), []);
  assert.deepEqual(heapFlagsToAdd([], { NODE_OPTIONS: '--enable-source-maps' }), [...DEFAULT_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd([], { WALRELAY_NODE_FLAGS: '' }), []);
  assert.deepEqual(heapFlagsToAdd([], { WALRELAY_NODE_FLAGS: '--max-semi-space-size=4  --max-old-space-size=200' }), ['--max-semi-space-size=4', '--max-old-space-size=200']);
  // A binary's own defaults (the SQLite sink's), and the operator's settings over them.
  assert.deepEqual(heapFlagsToAdd([], {}, SQLITE_SINK_NODE_FLAGS), [...SQLITE_SINK_NODE_FLAGS]);
  assert.deepEqual(heapFlagsToAdd([], { WALRELAY_NODE_FLAGS: '--max-semi-space-size=16' }, SQLITE_SINK_NODE_FLAGS), ['--max-semi-space-size=16']);
  assert.deepEqual(heapFlagsToAdd(['--max-old-space-size=512'], {}, SQLITE_SINK_NODE_FLAGS), []);
});

test("malloc tunables: glibc's the defaults unless the operator tuned malloc; WALRELAY_MALLOC_TUNABLES replaces or (empty) turns them off", () => {
  assert.equal(mallocTunablesToAdd({}), DEFAULT_MALLOC_TUNABLES);
  assert.equal(mallocTunablesToAdd({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }), `glibc.pthread.rseq=0:${DEFAULT_MALLOC_TUNABLES}`, "another tunable of the operator's is kept");
  assert.equal(mallocTunablesToAdd({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' }), undefined);
  assert.equal(mallocTunablesToAdd({ MALLOC_ARENA_MAX: '1' }), undefined);
  assert.equal(mallocTunablesToAdd({ GLIBC_TUNABLES: DEFAULT_MALLOC_TUNABLES }), undefined, 'the restarted process adds nothing');
  assert.equal(mallocTunablesToAdd({ WALRELAY_MALLOC_TUNABLES: '' }), undefined);
  assert.equal(mallocTunablesToAdd({ WALRELAY_MALLOC_TUNABLES: 'glibc.malloc.arena_max=1' }), 'glibc.malloc.arena_max=1');
  assert.equal(mallocTunablesToAdd({ WALRELAY_MALLOC_TUNABLES: 'glibc.malloc.arena_max=1', GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }), undefined);
});

/** Runs a node process that imports the module, and reports its pid, its flags and V8's young generation limit. */
function run(env: Record<string, string>, nodeArgs: string[] = []): { pid: number; childPid: number | undefined; execArgv: string[]; tunables: string | null } {
  const script = `const m = await import(${JSON.stringify(new URL('../src/heap-settings.ts', import.meta.url).href)}); m.applyHeapSettings(); console.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, tunables: process.env.GLIBC_TUNABLES ?? null }));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { pid: number; execArgv: string[]; tunables: string | null };
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

test('the restart also sets the malloc tunables, once, and only where the operator did not tune malloc', () => {
  const env: Record<string, string> = { NODE_OPTIONS: '', WALRELAY_NODE_FLAGS: '' };
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('MALLOC_') || k === 'GLIBC_TUNABLES' || k === 'WALRELAY_MALLOC_TUNABLES').map((k) => [k, '']));
  // Only the tunables to add (heap flags off): the process still restarts in place for them.
  const tuned = run({ ...cleared, ...env, GLIBC_TUNABLES: 'glibc.pthread.rseq=1', WALRELAY_MALLOC_TUNABLES: DEFAULT_MALLOC_TUNABLES });
  assert.equal(tuned.pid, tuned.childPid, 'the same process (execve)');
  assert.equal(tuned.tunables, `glibc.pthread.rseq=1:${DEFAULT_MALLOC_TUNABLES}`);
  const operator = run({ ...cleared, ...env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=3' });
  assert.equal(operator.tunables, 'glibc.malloc.arena_max=3');
  const off = run({ ...cleared, ...env, WALRELAY_MALLOC_TUNABLES: '' });
  assert.ok(off.tunables === null || off.tunables === '', `nothing added (GLIBC_TUNABLES ${off.tunables})`);
});
