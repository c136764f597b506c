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
 * A process's CPU ticks so far (user + system) and its start time (in ticks since boot: with the
 * pid, what tells one process from a later one given the same pid), or undefined once it has exited.
 */
export function procCpu(pid: number): { ticks: number; startedAt: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command (which may hold spaces and parentheses): state is index 0.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(fields[11]) + Number(fields[12]), startedAt: fields[19] ?? '' };
}

/**
 * What a process has cost so far, per 100,000 of its changes: CPU seconds (user + system), the
 * system part of them, and minor page faults (memory touched for the first time: a fresh mapping
 * faults in page by page, a cost the CPU profile shows inside whatever touched it; docs/performance.md,
 * Session 20). Zeros once the process has exited.
 */
export function processCostPer100k(pid: number | undefined, changes: number): { cpuSeconds: number; systemSeconds: number; minorFaults: number } {
  let stat: string;
  try {
    stat = pid ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  } catch {
    stat = '';
  }
  if (stat === '' || changes <= 0) return { cpuSeconds: 0, systemSeconds: 0, minorFaults: 0 };
  // After the command: state 0, …, minflt 7, …, utime 11, stime 12 (proc(5), counted from state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const per100k = 100_000 / changes;
  return {
    cpuSeconds: ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * per100k,
    systemSeconds: (Number(fields[12]) / CLK_TCK) * per100k,
    minorFaults: Number(fields[7]) * per100k,
  };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  return (procCpu(pid)?.ticks ?? 0) / CLK_TCK;
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
