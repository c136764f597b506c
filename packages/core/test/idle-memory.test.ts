import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../test/support/wait.js';
import { captureLogger } from './fixtures/capture-logger.js';
import { IdleMemoryDecision, onIdleMemoryRelease, startIdleMemoryRelease, type IdleMemoryPolicy, type ProcessSample } from '../src/idle-memory.js';

const MB = 1024 * 1024;
const policy: IdleMemoryPolicy = { idleMs: 10_000, maxCpuShare: 0.02, minGrowthBytes: 8 * MB };

/** A clock of 2.5 s intervals: `busy` is the CPU share of one core used during the interval. */
function run(decision: IdleMemoryDecision, steps: ReadonlyArray<{ busy: number; heapMB: number }>, start: ProcessSample = { nowMs: 0, cpuMicros: 0, heapBytes: 40 * MB }): { collectAt: number[]; last: ProcessSample } {
  decision.observe(start);
  let last = start;
  const collectAt: number[] = [];
  steps.forEach((s, i) => {
    const next: ProcessSample = { nowMs: last.nowMs + 2500, cpuMicros: last.cpuMicros + s.busy * 2500 * 1000, heapBytes: s.heapMB * MB };
    if (decision.observe(next)) {
      collectAt.push(i);
      const after = { ...next, heapBytes: 20 * MB };
      decision.collected(after);
      last = after;
    } else last = next;
  });
  return { collectAt, last };
}

test('a busy process never collects, however large its heap', () => {
  const { collectAt } = run(new IdleMemoryDecision(policy), Array.from({ length: 40 }, () => ({ busy: 0.9, heapMB: 200 })));
  assert.deepEqual(collectAt, []);
});

test('a process collects once after idleMs of quiet, and not again while its heap stays small', () => {
  const steps = [...Array.from({ length: 4 }, () => ({ busy: 0.9, heapMB: 200 })), ...Array.from({ length: 20 }, () => ({ busy: 0.005, heapMB: 200 }))];
  const { collectAt } = run(new IdleMemoryDecision(policy), steps.map((s, i) => (i > 8 ? { ...s, heapMB: 21 } : s)));
  // 4 busy intervals, then quiet from the end of interval 3: 10 s of quiet at interval 7.
  assert.deepEqual(collectAt, [7]);
});

test('quiet interrupted by one busy interval starts the wait again', () => {
  const steps = [
    { busy: 0.01, heapMB: 100 },
    { busy: 0.01, heapMB: 100 },
    { busy: 0.01, heapMB: 100 },
    { busy: 0.5, heapMB: 100 },
    ...Array.from({ length: 6 }, () => ({ busy: 0.01, heapMB: 100 })),
  ];
  const { collectAt } = run(new IdleMemoryDecision(policy), steps);
  assert.deepEqual(collectAt, [7]);
});

test('after a collection, the next needs the heap to grow by minGrowthBytes and a new quiet period', () => {
  const steps = [
    ...Array.from({ length: 5 }, () => ({ busy: 0.01, heapMB: 60 })), // collects at 3 (heap → 20)
    ...Array.from({ length: 6 }, () => ({ busy: 0.01, heapMB: 27 })), // grew 7 MB: below the threshold
    { busy: 0.8, heapMB: 120 },
    ...Array.from({ length: 5 }, () => ({ busy: 0.01, heapMB: 120 })), // quiet again: collects 10 s later
  ];
  const { collectAt } = run(new IdleMemoryDecision(policy), steps);
  assert.deepEqual(collectAt, [3, 15]);
});

test('idleMs 0 turns it off', () => {
  const { collectAt } = run(new IdleMemoryDecision({ ...policy, idleMs: 0 }), Array.from({ length: 20 }, () => ({ busy: 0, heapMB: 300 })));
  assert.deepEqual(collectAt, []);
});

test('the release trims malloc right after its collection, and says so in its line', async () => {
  const { log, lines } = captureLogger();
  let trims = 0;
  const stop = startIdleMemoryRelease({ idleMs: 1000, maxCpuShare: 0.5, minGrowthBytes: 0 }, log, {
    available: true,
    trim: () => {
      trims++;
      return true;
    },
  });
  try {
    await waitFor('the idle release', () => lines.some((l) => l.msg === 'idle: heap given back to the operating system'), { timeoutMs: 15_000, intervalMs: 50 });
  } finally {
    stop();
  }
  const line = lines.find((l) => l.msg === 'idle: heap given back to the operating system') as Record<string, unknown>;
  assert.equal(trims, 1);
  assert.equal(line.trimmed, true);
  for (const k of ['rssBeforeMB', 'rssCollectedMB', 'rssAfterMB']) assert.equal(typeof line[k], 'number', k);
  assert.equal(lines.filter((l) => l.level === 'warn').length, 0);
});

test('without malloc_trim the release says why once, at start, and still collects', async () => {
  const { log, lines } = captureLogger();
  const stop = startIdleMemoryRelease({ idleMs: 1000, maxCpuShare: 0.5, minGrowthBytes: 0 }, log, { available: false, reason: 'the C library is not glibc, which is the one with malloc_trim' });
  try {
    await waitFor('the idle release', () => lines.some((l) => l.msg === 'idle: heap given back to the operating system'), { timeoutMs: 15_000, intervalMs: 50 });
  } finally {
    stop();
  }
  const warnings = lines.filter((l) => l.level === 'warn');
  assert.equal(warnings.length, 1);
  assert.match(String(warnings[0]?.msg), /malloc_trim unavailable/);
  assert.equal(warnings[0]?.reason, 'the C library is not glibc, which is the one with malloc_trim');
  assert.equal(lines.find((l) => l.msg === 'idle: heap given back to the operating system')?.trimmed, false);
});

test('registered releases run before the collection; one that throws is logged and the others still run; a removed one does not run', async () => {
  const { log, lines } = captureLogger();
  const calls: string[] = [];
  const removeFirst = onIdleMemoryRelease(() => {
    calls.push('first');
    throw new Error('cache busy');
  });
  const removeSecond = onIdleMemoryRelease(() => calls.push(`second after ${lines.length} lines`));
  const removeGone = onIdleMemoryRelease(() => calls.push('gone'));
  removeGone();
  const stop = startIdleMemoryRelease({ idleMs: 1000, maxCpuShare: 0.5, minGrowthBytes: 0 }, log, { available: true, trim: () => true });
  try {
    await waitFor('the idle release', () => lines.some((l) => l.msg === 'idle: heap given back to the operating system'), { timeoutMs: 15_000, intervalMs: 50 });
  } finally {
    stop();
    removeFirst();
    removeSecond();
  }
  assert.deepEqual(calls, ['first', 'second after 1 lines']);
  const warning = lines.find((l) => l.level === 'warn');
  assert.match(String(warning?.msg), /could not be released/);
  assert.equal((warning?.err as { message?: string } | undefined)?.message, 'cache busy');
  assert.ok(lines.indexOf(warning!) < lines.findIndex((l) => l.msg === 'idle: heap given back to the operating system'));
});
