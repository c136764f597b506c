import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { CLK_TCK, procCpu } from './process-stats.js';

/**
 * Where the machine's CPU went during a phase, by process role: the walrelay binary, PostgreSQL's
 * walsender and its other backends, MariaDB, the Kafka broker, the registry, pg_recvlogical, the
 * bench itself, and what the machine left idle. It says what bounds a phase: a walrelay process
 * at one core while the machine has idle time is bound by its one JavaScript thread; a machine with
 * no idle time is bound by all of them together (docs/performance.md, Session 17).
 *
 * Every `intervalMs` it reads the CPU ticks (user + system) of every process in /proc and the
 * machine's idle ticks from /proc/stat; a phase's shares come from the readings nearest its start
 * and end (at this interval, a 2-second phase's edges are ±6%), or from readings taken at them
 * (`readNow`).
 */

interface Reading {
  readonly t: number;
  /** CPU ticks by role, processes alive at this reading. */
  readonly byRole: Map<string, number>;
  /** Ticks of processes that exited since the previous reading, by role (their last reading). */
  readonly exited: Map<string, number>;
  /** Idle + iowait ticks of the whole machine. */
  readonly idle: number;
}

/** Cores busy (1 = one core for the whole phase) by role, and the machine's idle cores. */
export interface CpuShares {
  readonly seconds: number;
  readonly cpus: number;
  readonly busyCores: Record<string, number>;
  readonly idleCores: number;
}

function roleOf(pid: number, cmdline: string, self: number): string {
  if (pid === self) return 'bench';
  const walrelay = /walrelay-(source|sink-sqlite|sink-mysql|sink-mssql)/.exec(cmdline);
  if (walrelay) return `walrelay-${walrelay[1]}`;
  if (cmdline.startsWith('postgres: ')) return /walsender/.test(cmdline) ? 'postgres walsender' : 'postgres (other)';
  if (/(^|\/)postgres( |$)/.test(cmdline)) return 'postgres (other)';
  if (/mariadbd|mysqld/.test(cmdline)) return 'mariadbd';
  if (/pg_recvlogical/.test(cmdline)) return 'pg_recvlogical';
  if (/kafka\.Kafka/.test(cmdline)) return 'kafka';
  if (/ConnectDistributed|connect-distributed/.test(cmdline)) return 'kafka-connect';
  if (/apicurio|quarkus/.test(cmdline)) return 'registry';
  return 'other';
}

export class MachineCpu {
  readonly #intervalMs: number;
  readonly #readings: Reading[] = [];
  /** `pid:start time` → role and last ticks of the processes seen at the previous reading. */
  #seen = new Map<string, { role: string; ticks: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs = 250) {
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#read();
    this.#timer = setInterval(() => this.#read(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * A reading now, returned as its time: for phase edges the interval would miss (the SQLite
   * driver's ceiling runs synchronously in the bench's own thread, so no timer fires during it).
   */
  readNow(): number {
    this.#read();
    return this.#readings.at(-1)!.t;
  }

  #read(): void {
    const t = Date.now();
    const byRole = new Map<string, number>();
    const seen = new Map<string, { role: string; ticks: number }>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      const cpu = procCpu(pid);
      if (!cpu) continue; // exited meanwhile
      const ticks = cpu.ticks;
      const key = `${pid}:${cpu.startedAt}`;
      let role = this.#seen.get(key)?.role;
      if (role === undefined) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        } catch {
          continue;
        }
        if (cmdline === '') continue; // a kernel thread
        role = roleOf(pid, cmdline, process.pid);
      }
      seen.set(key, { role, ticks });
      byRole.set(role, (byRole.get(role) ?? 0) + ticks);
    }
    // A process that exited since the last reading keeps its ticks up to that reading in the sums
    // (its last interval is lost: at most one interval of one process).
    const exited = new Map<string, number>();
    for (const [key, s] of this.#seen) if (!seen.has(key)) exited.set(s.role, (exited.get(s.role) ?? 0) + s.ticks);
    this.#seen = seen;
    this.#readings.push({ t, byRole, exited, idle: machineIdleTicks() });
  }

  /** The shares between two wall-clock times (ms), from the readings nearest them. */
  sharesBetween(fromMs: number, toMs: number): CpuShares | undefined {
    const rs = this.#readings;
    const i = nearest(rs, fromMs);
    const j = nearest(rs, toMs);
    if (i < 0 || j <= i) return undefined;
    const a = rs[i]!;
    const b = rs[j]!;
    const seconds = (b.t - a.t) / 1000;
    // Per role: ticks at b, plus the last ticks of processes that exited between a and b, minus
    // ticks at a of processes alive at a. A process started after a counts from zero.
    const delta = new Map<string, number>(b.byRole);
    for (let k = i + 1; k <= j; k++) for (const [role, ticks] of rs[k]!.exited) delta.set(role, (delta.get(role) ?? 0) + ticks);
    for (const [role, ticks] of a.byRole) delta.set(role, (delta.get(role) ?? 0) - ticks);
    const busyCores: Record<string, number> = {};
    for (const [role, ticks] of [...delta].sort((x, y) => y[1] - x[1])) {
      const cores = ticks / CLK_TCK / seconds;
      if (cores >= 0.01) busyCores[role] = round2(cores);
    }
    return { seconds: round2(seconds), cpus: os.cpus().length, busyCores, idleCores: round2((b.idle - a.idle) / CLK_TCK / seconds) };
  }
}

/** One line: "walrelay-source 0.98, postgres walsender 0.31, …; idle 0.45 of 2 cores". */
export function describeShares(s: CpuShares | undefined): string {
  if (!s) return 'CPU by process: not measured (no two readings span the phase)';
  const busy = Object.entries(s.busyCores)
    .map(([role, cores]) => `${role} ${cores.toFixed(2)}`)
    .join(', ');
  return `CPU in cores over ${s.seconds.toFixed(1)} s: ${busy}; idle ${s.idleCores.toFixed(2)} of ${s.cpus}`;
}

function nearest(rs: readonly Reading[], t: number): number {
  let best = -1;
  let bestGap = Infinity;
  for (let k = 0; k < rs.length; k++) {
    const gap = Math.abs(rs[k]!.t - t);
    if (gap < bestGap) {
      best = k;
      bestGap = gap;
    }
  }
  return best;
}

function machineIdleTicks(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  // cpu user nice system idle iowait irq softirq steal …
  return Number(first[4]) + Number(first[5]);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
