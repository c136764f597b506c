import v8 from 'node:v8';
import vm from 'node:vm';
import { loadMallocTrim, type MallocTrim } from '@walrelay/malloc-trim';
import type { Logger } from 'pino';

/**
 * Gives the heap back to the operating system once the process has gone idle.
 *
 * Why: V8 keeps the pages it grew to during a burst (catch-up, a replay, a snapshot) for as long
 * as the process lives: a full collection returns them to V8's own pools, not to the OS, and the
 * young generation stays at the size the burst gave it. A sink that replayed a topic an hour ago
 * still held 200+ MB while doing nothing (docs/performance.md). Only a memory-reducing collection
 * (V8's "last resort" flavour, what a low-memory notification runs) shrinks the young generation
 * and unmaps free pages. It frees the buffers the burst left too, but glibc hands freed malloc
 * memory back to the OS only from the top of its heap: what lies below a block still in use stays
 * resident (≈10 MB per binary after the benchmark) until `malloc_trim` runs, which the release
 * calls right after the collection (@walrelay/malloc-trim; docs/performance.md, Session 15).
 *
 * When: after `idleMs` during which the process used at most `maxCpuShare` of one core (no
 * changes to carry: keep-alives, heartbeats and metric scrapes stay far below it), and only if
 * the heap has grown by at least `minGrowthBytes` since the last such collection (so an idle
 * process collects once, not every `idleMs`). The collection stops the process for tens of
 * milliseconds (≈100 ms measured on a fresh source); a change that arrives during it waits that
 * long, which is why it runs only after a quiet period and never under load.
 */
export interface IdleMemoryPolicy {
  /** Quiet time before collecting; 0 turns the collection off. */
  readonly idleMs: number;
  /** CPU share of one core (0–1) under which a sampling interval counts as quiet. */
  readonly maxCpuShare: number;
  /** Heap growth since the last collection below which there is nothing worth giving back. */
  readonly minGrowthBytes: number;
}

export const DEFAULT_IDLE_MEMORY_POLICY: IdleMemoryPolicy = { idleMs: 10_000, maxCpuShare: 0.05, minGrowthBytes: 8 * 1024 * 1024 };

/** One observation of the process. */
export interface ProcessSample {
  /** Monotonic wall clock, milliseconds. */
  readonly nowMs: number;
  /** User + system CPU time consumed so far, microseconds. */
  readonly cpuMicros: number;
  /** V8's committed heap (`heapTotal`), bytes. */
  readonly heapBytes: number;
}

/**
 * The decision alone (no timers, no collection): fed one sample per interval, it says when to
 * collect. `collected` records the heap size the collection left.
 */
export class IdleMemoryDecision {
  readonly #policy: IdleMemoryPolicy;
  #previous: ProcessSample | undefined;
  /** Since when the process has been quiet, or undefined while it is busy. */
  #quietSinceMs: number | undefined;
  /** Heap after the last collection (0 before the first: a fresh process collects once it is idle). */
  #baselineBytes = 0;

  constructor(policy: IdleMemoryPolicy) {
    this.#policy = policy;
  }

  /** True when the process should collect now. */
  observe(sample: ProcessSample): boolean {
    const previous = this.#previous;
    this.#previous = sample;
    if (this.#policy.idleMs <= 0 || previous === undefined) return false;
    const wallMs = sample.nowMs - previous.nowMs;
    if (wallMs <= 0) return false;
    const share = (sample.cpuMicros - previous.cpuMicros) / 1000 / wallMs;
    if (share > this.#policy.maxCpuShare) {
      this.#quietSinceMs = undefined;
      return false;
    }
    this.#quietSinceMs ??= previous.nowMs;
    if (sample.nowMs - this.#quietSinceMs < this.#policy.idleMs) return false;
    return sample.heapBytes >= this.#baselineBytes + this.#policy.minGrowthBytes;
  }

  collected(after: ProcessSample): void {
    this.#baselineBytes = after.heapBytes;
    // The collection's own CPU time is not load: the next interval starts after it, and the
    // next collection needs a quiet period of its own.
    this.#previous = after;
    this.#quietSinceMs = undefined;
  }
}

function sample(): ProcessSample {
  const cpu = process.cpuUsage();
  return { nowMs: performance.now(), cpuMicros: cpu.user + cpu.system, heapBytes: process.memoryUsage().heapTotal };
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * What a part of the process drops when it goes idle, before the collection: caches that hold
 * malloc memory through objects the collection frees (the SQLite sink's prepared statements) or
 * outside the JS heap altogether (its page cache). Rebuilt on next use.
 */
export type IdleRelease = () => void;

const idleReleases = new Set<IdleRelease>();

/** Registers `release` with this process's idle memory release; returns its removal. */
export function onIdleMemoryRelease(release: IdleRelease): () => void {
  idleReleases.add(release);
  return () => {
    idleReleases.delete(release);
  };
}

/** Runs every registered release; one that throws is logged and does not stop the others. */
function runIdleReleases(log: Logger): void {
  for (const release of idleReleases) {
    try {
      release();
    } catch (err) {
      log.warn({ err }, 'idle: a cache could not be released (it stays as it is)');
    }
  }
}

/**
 * V8's `gc` function without `--expose-gc` on the command line (an operator's own node flags
 * stay as they are): the flag is turned on, a fresh context gets the function, and the flag is
 * turned off again so nothing else sees a global `gc`.
 */
function memoryReducingCollector(): Collect | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * Samples the process every `idleMs / 4` (at least 250 ms; the timer does not keep the process
 * alive) and, when the decision says so, runs the registered releases (onIdleMemoryRelease), a
 * memory-reducing collection, and `mallocTrim`, which hands back the malloc memory they and the
 * burst freed (when it is unavailable — no native module, not glibc — that is logged once, at
 * start). Returns its stop.
 */
export function startIdleMemoryRelease(policy: IdleMemoryPolicy, log: Logger, mallocTrim: MallocTrim = loadMallocTrim()): () => void {
  if (policy.idleMs <= 0) return () => undefined;
  const collect = memoryReducingCollector();
  if (collect === undefined) {
    log.warn('idle memory release unavailable in this node (no gc function): memory grown during bursts stays with the process');
    return () => undefined;
  }
  if (!mallocTrim.available) {
    log.warn({ reason: mallocTrim.reason }, 'malloc_trim unavailable: when idle, malloc memory freed below a block in use stays with the process (≈10 MB after a burst)');
  }
  const decision = new IdleMemoryDecision(policy);
  decision.observe(sample());
  const timer = setInterval(() => {
    if (!decision.observe(sample())) return;
    const before = process.memoryUsage();
    const started = performance.now();
    runIdleReleases(log);
    collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const collected = process.memoryUsage.rss();
    const trimmed = mallocTrim.available ? mallocTrim.trim() : false;
    const after = sample();
    decision.collected(after);
    const rss = process.memoryUsage.rss();
    log.debug(
      {
        heapBeforeMB: mb(before.heapTotal),
        heapAfterMB: mb(after.heapBytes),
        rssBeforeMB: mb(before.rss),
        rssCollectedMB: mb(collected),
        rssAfterMB: mb(rss),
        trimmed,
        ms: Math.round(performance.now() - started),
      },
      'idle: heap given back to the operating system',
    );
  }, Math.max(250, Math.floor(policy.idleMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}

function mb(bytes: number): number {
  return Math.round(bytes / 1048576);
}
