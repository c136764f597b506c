import { readFileSync } from 'node:fs';

/** What /proc says of a process the bench watches (0 once it has exited). */

/** Kernel clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat's CPU times. */
export const CLK_TCK = 100;

/** Resident memory now (VmRSS) or at its peak (VmHWM), in bytes. */
export function procStatus(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (!pid) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A process's CPU ticks so far (user + system, and the system part), its minor page faults, and
 * its start time (in ticks since boot: with the pid, what tells one process from a later one
 * given the same pid), or undefined once it has exited.
 */
export function procCpu(pid: number): { ticks: number; systemTicks: number; minorFaults: number; startedAt: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command (which may hold spaces and parentheses), from state at index 0
  // (proc(5)): minflt 7, utime 11, stime 12, starttime 19.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const systemTicks = Number(fields[12]);
  return { ticks: Number(fields[11]) + systemTicks, systemTicks, minorFaults: Number(fields[7]), startedAt: fields[19] ?? '' };
}

/**
 * What a process has cost so far: CPU seconds (user + system), the system part of them, and minor
 * page faults (memory touched for the first time: a fresh mapping faults in page by page, a cost
 * the CPU profile shows inside whatever touched it; docs/performance.md, Session 20). Zeros once
 * the process has exited.
 */
export interface ProcessCost {
  readonly cpuSeconds: number;
  readonly systemSeconds: number;
  readonly minorFaults: number;
}

export function processCost(pid: number | undefined): ProcessCost {
  const stat = pid ? procCpu(pid) : undefined;
  if (!stat) return { cpuSeconds: 0, systemSeconds: 0, minorFaults: 0 };
  return { cpuSeconds: stat.ticks / CLK_TCK, systemSeconds: stat.systemTicks / CLK_TCK, minorFaults: stat.minorFaults };
}

/** `cost` per 100,000 of `changes`. */
export function per100k(cost: ProcessCost, changes: number): ProcessCost {
  const f = changes > 0 ? 100_000 / changes : 0;
  return { cpuSeconds: cost.cpuSeconds * f, systemSeconds: cost.systemSeconds * f, minorFaults: cost.minorFaults * f };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number | undefined): number {
  return processCost(pid).cpuSeconds;
}

/** Where a process's resident memory is (from /proc/<pid>/smaps), in bytes. */
export interface ResidentParts {
  /** Pages of the node binary itself (code, read-only data, V8's snapshot): shared, clean. */
  readonly nodeBinary: number;
  /** Other files mapped (shared libraries, native addons). */
  readonly otherFiles: number;
  /** The brk heap (glibc malloc's main arena: native allocations such as SQLite's page cache). */
  readonly brkHeap: number;
  /** Anonymous mappings: the V8 heap's pages, other malloc arenas, thread stacks. */
  readonly anonymous: number;
}

export function residentParts(pid: number | undefined): ResidentParts | undefined {
  if (!pid) return undefined;
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const parts = { nodeBinary: 0, otherFiles: 0, brkHeap: 0, anonymous: 0 };
  let name = '';
  for (const line of smaps.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] ?? '';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const bytes = Number(rss[1]) * 1024;
    if (name === '[heap]') parts.brkHeap += bytes;
    else if (name === '' || name.startsWith('[')) parts.anonymous += bytes;
    else if (/\/node$/.test(name)) parts.nodeBinary += bytes;
    else parts.otherFiles += bytes;
  }
  return parts;
}
