import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import type pg from 'pg';
import { TestPipeline } from '../support/pipeline.js';
import { MYSQL_URL, PG_URL } from '../support/env.js';
import { testKafka } from '../support/kafka.js';
import { pgConnect, q } from '../support/postgres.js';
import { ROOT, startProcess, type RunningProcess } from '../support/processes.js';
import { percentile as pct } from './percentile.js';
import { summarizeProfiles } from './profile-summary.js';
import { MachineCpu, describeShares, type CpuShares } from './machine-cpu.js';
import { driverCeiling, tableShape } from './driver-ceiling.js';
import { SqliteTarget } from '@walrelay/sink-sqlite';
import { signalTableDdl } from '@walrelay/source-postgres';
import { MysqlTarget } from '@walrelay/sink-mysql';
import type { TargetDriver } from '@walrelay/sink';
import { cpuSeconds, per100k, processCost, procStatus, residentParts, type ProcessCost } from './process-stats.js';
import { debeziumJdbcSink, debeziumSource, dropDatabases, dropSlots, requireConnect, type PhaseResult } from './debezium-compare.js';

/**
 * npm run bench [-- --size S] [--tx T] [--rate R] [--latency-seconds D] [--compare debezium]
 *
 * Runs the built binaries (dist/, as users run them: the npm script builds first).
 *
 * Workload: one table of narrow-ish rows (int8 key, int4, int8, 100-char text, timestamptz,
 * numeric(12,2), bool), N = 200,000 × size inserts in transactions of T rows (100% inserts),
 * and for latency a second table with 1-row transactions at a fixed offered rate.
 *
 * Measures:
 *  - pg_recvlogical (pgoutput, proto 1) reading the same N changes from its own slot: the ceiling;
 *  - source throughput: the source starts with N changes waiting in its slot; changes/s from its
 *    first published change until the LSN of the last one is confirmed (confirmed = Kafka acked);
 *  - sink throughput per target: a fresh consumer group replays the N-change topic into an empty
 *    SQLite file / MySQL database; rows/s applied (walrelay_sink_records_applied_total);
 *  - end-to-end latency at R tx/s of 1 row for D s: client commit time → row visible in the target
 *    (targets polled every 5 ms), p50/p99, plus the sinks' own walrelay_sink_end_to_end_seconds;
 *  - peak RSS (VmHWM) of each process, RSS sampled every 250 ms.
 * With --compare debezium (needs `scripts/services.sh up debezium`), interleaved with walrelay's
 * own runs (walrelay, Debezium, walrelay, Debezium) on the same services and workload:
 *  - source catch-up: Debezium's PostgreSQL connector from its own slot holding the same N
 *    changes (snapshot.mode no_data), done when its topic holds N records; walrelay's second
 *    source run from a second slot, measured as in the source phase;
 *  - sink replay into empty MariaDB databases of the *same* topic (the one Debezium wrote):
 *    Debezium's JDBC sink (upsert, record_key) and walrelay-sink-mysql, done at N rows;
 *  - CPU seconds per 100,000 changes and peak RSS of each, and the ratios.
 * Writes .bench/<timestamp>.json and .bench/<timestamp>.html (inline SVG plots).
 */

const exec = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '1' },
    tx: { type: 'string', default: '100' },
    rate: { type: 'string', default: '500' },
    'latency-seconds': { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
    compare: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'alloc-profile': { type: 'boolean', default: false },
    'incremental-rows': { type: 'string', default: '1000000' },
    'high-rate': { type: 'string', default: '5000' },
    'high-seconds': { type: 'string', default: '60' },
    'high-rows-per-tx': { type: 'string', default: '10' },
    'wide-changes': { type: 'string', default: '50000' },
    'idle-seconds': { type: 'string', default: '15' },
  },
});
if (args.compare !== undefined && args.compare !== 'debezium') throw new Error(`--compare: only debezium is known, got ${args.compare}`);
const COMPARE = args.compare === 'debezium';
/**
 * --profile: every walrelay process writes a CPU profile and a sampling heap profile (alive at exit)
 * into .bench/profiles-<stamp>/ (summarised at the end). --alloc-profile: the same with an
 * allocation profile (everything allocated, collected objects included) instead of the heap profile.
 */
const PROFILE_DIR = args.profile || args['alloc-profile'] ? path.join(ROOT, '.bench', `profiles-${new Date().toISOString().replace(/[:.]/g, '-')}`) : undefined;
if (PROFILE_DIR) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  process.env.WALRELAY_PROFILE_DIR = PROFILE_DIR;
  if (args['alloc-profile']) process.env.WALRELAY_PROFILE_ALLOCATIONS = '1';
}
const SIZE = Number(args.size);
const N = Math.round(200_000 * SIZE);
const T = Number(args.tx);
const RATE = Number(args.rate);
const LAT_SECONDS = Number(args['latency-seconds']);
const SAMPLE_MS = 250;
/** Rows of the table an incremental snapshot reads while 1-row transactions stream (0: no such phase). */
const INC_ROWS = Number(args['incremental-rows']);
const INC_LAT_SECONDS = 10;
/** The second latency phase: this many changes/s for this long (issue 13: 5,000 changes/s for 60 s; 0 skips it). */
const HIGH_RATE = Number(args['high-rate']);
const HIGH_SECONDS = Number(args['high-seconds']);
/** The high-rate phase offers HIGH_RATE changes/s as transactions of this many rows (1: one commit per change). */
const HIGH_ROWS_PER_TX = Number(args['high-rows-per-tx']);
if (!Number.isInteger(HIGH_ROWS_PER_TX) || HIGH_ROWS_PER_TX < 1) throw new Error(`--high-rows-per-tx: a whole number ≥ 1, got ${args['high-rows-per-tx']}`);
/** Changes of the wide-row workload (≈2 KB rows, 20 columns of mixed types) for the source phase (0 skips it). */
const WIDE_N = Math.round(Number(args['wide-changes']) * SIZE);
const IDLE_SECONDS = Number(args['idle-seconds']);

/** Phases that later phases do not depend on: a failure is reported as "did not complete" and the bench goes on. */
const incomplete: { phase: string; reason: string }[] = [];
async function optionalPhase<T>(phase: string, run: () => Promise<T>): Promise<T | { completed: false; reason: string }> {
  try {
    return await run();
  } catch (e) {
    const reason = (e as Error).message;
    incomplete.push({ phase, reason });
    log(`PHASE DID NOT COMPLETE: ${phase}: ${reason}`);
    return { completed: false, reason };
  }
}

const t0 = Date.now();
const log = (s: string): void => console.log(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

type Metrics = Map<string, { labels: string; value: number }[]>;

async function scrape(port: number): Promise<Metrics> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  const m: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const list = m.get(match[1]!) ?? [];
    list.push({ labels: match[2] ?? '', value: Number(match[3]) });
    m.set(match[1]!, list);
  }
  return m;
}

function sum(m: Metrics, name: string, labelFilter = ''): number {
  return (m.get(name) ?? []).filter((x) => x.labels.includes(labelFilter)).reduce((a, x) => a + x.value, 0);
}

/** Quantile from a Prometheus histogram (linear inside the bucket). */
function histQuantile(m: Metrics, name: string, qt: number): number | null {
  const buckets = (m.get(`${name}_bucket`) ?? []).map((b) => ({ le: Number(/le="([^"]+)"/.exec(b.labels)?.[1] === '+Inf' ? Infinity : /le="([^"]+)"/.exec(b.labels)?.[1]), n: b.value })).sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.n ?? 0;
  if (total === 0) return null;
  const rank = qt * total;
  let prevLe = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (b.le === Infinity) return prevLe;
      return prevLe + ((rank - prevN) / Math.max(1, b.n - prevN)) * (b.le - prevLe);
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return null;
}

/** after − before for every series (counters and histogram buckets). */
function histDelta(before: Metrics, after: Metrics): Metrics {
  const out: Metrics = new Map();
  for (const [name, list] of after) {
    const prev = new Map((before.get(name) ?? []).map((x) => [x.labels, x.value]));
    out.set(name, list.map((x) => ({ labels: x.labels, value: x.value - (prev.get(x.labels) ?? 0) })));
  }
  return out;
}

interface Sample {
  t: number;
  count: number;
  rss: number;
  /** The process's own view (prom-client default metrics): V8 heap used and total, memory outside the heap (Buffers). */
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** Where the RSS peak sits: the largest heap used / heap total / external of each phase's samples. */
const memoryPeaks: Record<string, { heapUsedMB: number; heapTotalMB: number; externalMB: number }> = {};
function noteMemory(name: string, s: Sample): void {
  const m = (memoryPeaks[name] ??= { heapUsedMB: 0, heapTotalMB: 0, externalMB: 0 });
  m.heapUsedMB = Math.max(m.heapUsedMB, Math.round(s.heapUsed / 1048576));
  m.heapTotalMB = Math.max(m.heapTotalMB, Math.round(s.heapTotal / 1048576));
  m.externalMB = Math.max(m.externalMB, Math.round(s.external / 1048576));
}

const peakRss: Record<string, number> = {};
/** VmRSS of processes with nothing to do (bytes). */
const idleRss: Record<string, number> = {};
/** Just after start-up (not idle yet: reported, not held to the idle target). */
const startedRss: Record<string, number> = {};
/** Where each idle process's RSS is (MB): smaps parts, and the V8 heap when the process serves /metrics. */
const idleParts: Record<string, Record<string, number>> = {};
async function noteIdle(label: string, proc: RunningProcess, port?: number): Promise<void> {
  idleRss[label] = procStatus(proc.child.pid, 'VmRSS');
  const mb = (b: number): number => Math.round(b / 104857.6) / 10;
  const parts = residentParts(proc.child.pid);
  const out: Record<string, number> = {};
  if (parts) for (const [k, v] of Object.entries(parts)) out[k] = mb(v);
  if (port !== undefined) {
    try {
      const m = await scrape(port);
      out.v8HeapTotal = mb(sum(m, 'walrelay_process_nodejs_heap_size_total_bytes'));
      out.v8HeapUsed = mb(sum(m, 'walrelay_process_nodejs_heap_size_used_bytes'));
      out.external = mb(sum(m, 'walrelay_process_nodejs_external_memory_bytes'));
    } catch {
      /* not serving: smaps parts only */
    }
  }
  idleParts[label] = out;
}
/**
 * A source's produce requests so far: how many, how long they took in all (one is in flight
 * while the stream encodes the next batch), the bytes published and the Kafka transactions.
 */
function produceFigures(m: Metrics): { requests: number; seconds: number; bytes: number; kafkaTransactions: number; waitedSeconds: { produce: number; commit: number } } {
  return {
    requests: sum(m, 'walrelay_source_produce_seconds_count'),
    seconds: sum(m, 'walrelay_source_produce_seconds_sum'),
    bytes: sum(m, 'walrelay_source_bytes_total'),
    kafkaTransactions: sum(m, 'walrelay_source_kafka_transactions_total'),
    // The stream's waits on Kafka (its waits for input include the time before the first change).
    waitedSeconds: {
      produce: sum(m, 'walrelay_source_wait_seconds_total', 'waiting_for="produce"'),
      commit: sum(m, 'walrelay_source_wait_seconds_total', 'waiting_for="commit"'),
    },
  };
}

/** How long the stream waited for Kafka, as the bench prints it. */
function waitedText(p: ReturnType<typeof produceFigures>): string {
  return `the stream waited ${p.waitedSeconds.produce.toFixed(2)} s to hand batches over and ${p.waitedSeconds.commit.toFixed(2)} s in Kafka commits`;
}

function notePeak(name: string, proc: RunningProcess): void {
  peakRss[name] = Math.max(peakRss[name] ?? 0, procStatus(proc.child.pid, 'VmHWM'));
}

/** Samples a counter and RSS until `done` holds; returns the samples. */
async function sampleUntil(name: string, proc: RunningProcess, port: number, read: (m: Metrics) => number, done: (m: Metrics, count: number) => boolean, timeoutMs: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const start = Date.now();
  for (;;) {
    let m: Metrics | undefined;
    try {
      m = await scrape(port);
    } catch {
      /* not listening yet */
    }
    const count = m ? read(m) : 0;
    const sample: Sample = {
      t: Date.now(),
      count,
      rss: procStatus(proc.child.pid, 'VmRSS'),
      heapUsed: m ? sum(m, 'walrelay_process_nodejs_heap_size_used_bytes') : 0,
      heapTotal: m ? sum(m, 'walrelay_process_nodejs_heap_size_total_bytes') : 0,
      external: m ? sum(m, 'walrelay_process_nodejs_external_memory_bytes') : 0,
    };
    samples.push(sample);
    noteMemory(name, sample);
    notePeak(name, proc);
    if (m && done(m, count)) return samples;
    if (proc.child.exitCode !== null) throw new Error(`${name} exited (${proc.child.exitCode}); log ${proc.logFile}`);
    if (Date.now() - start > timeoutMs) throw new Error(`${name}: timed out at ${count}; log ${proc.logFile}`);
    await sleep(SAMPLE_MS);
  }
}

/** The summary's cost line: each walrelay process's CPU, system CPU and page faults per 100k changes. */
function costLine(r: Record<string, unknown>): string {
  const parts: [string, ProcessCost | undefined][] = [['source', (r.source as { costPer100k?: ProcessCost } | undefined)?.costPer100k]];
  for (const [k, v] of Object.entries((r.sinks ?? {}) as Record<string, { costPer100k?: ProcessCost }>)) parts.push([k, v.costPer100k]);
  const wide = r.wide as { completed?: false; costPer100k?: ProcessCost } | undefined;
  if (wide && wide.completed !== false) parts.push(['wide-row source', wide.costPer100k]);
  return parts
    .filter((x): x is [string, ProcessCost] => x[1] !== undefined && x[1].cpuSeconds > 0)
    .map(([k, c]) => `${k} ${c.cpuSeconds.toFixed(2)} · ${c.systemSeconds.toFixed(2)} · ${(c.minorFaults / 1000).toFixed(1)}k`)
    .join(', ');
}

/** A walrelay process's figures for the side-by-side table: rate, CPU (whole process life) and peak RSS. */
function phaseOf(proc: RunningProcess, rate: { rate: number; seconds: number }, n: number): PhaseResult {
  const cpu = cpuSeconds(proc.child.pid);
  return { seconds: rate.seconds, perSecond: rate.rate, cpuSeconds: cpu, cpuSecondsPer100k: (cpu * 100_000) / n, peakRssMB: Math.round(procStatus(proc.child.pid, 'VmHWM') / 1048576) };
}

/** Where each phase's CPU went, by process (machine-cpu.ts); sampled for the whole bench. */
const machineCpu = new MachineCpu();
const cpuByPhase: Record<string, CpuShares | undefined> = {};
function noteCpu(phase: string, fromMs: number, toMs: number): string {
  const shares = machineCpu.sharesBetween(fromMs, toMs);
  cpuByPhase[phase] = shares;
  return describeShares(shares);
}

/**
 * pg_recvlogical (pgoutput, proto 1, to /dev/null) from `slot` up to `endpos`: seconds, and its
 * wall-clock window (for noteCpu).
 */
async function pgRecvlogical(slot: string, endpos: string, publication: string): Promise<{ seconds: number; from: number; to: number }> {
  const u = new URL(PG_URL);
  machineCpu.readNow();
  const started = Date.now();
  await exec(
    'pg_recvlogical',
    ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '-d', u.pathname.slice(1), '--slot', slot, '--start', '--endpos', endpos, '-o', 'proto_version=1', '-o', `publication_names=${publication}`, '-f', '/dev/null', '--no-loop'],
    { timeout: 600_000 },
  );
  const to = machineCpu.readNow();
  return { seconds: (to - started) / 1000, from: started, to };
}

/** The faster of the ceiling's runs (the one that counts). */
function fastestRun(runs: readonly { seconds: number; from: number; to: number }[]): { seconds: number; from: number; to: number } {
  return runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

function rateOf(samples: Sample[], total: number): { rate: number; seconds: number; firstAt: number } {
  const first = samples.findIndex((s) => s.count > 0);
  const f = samples[Math.max(0, first - 1)]!; // the last sample before any progress
  const last = samples.at(-1)!;
  const seconds = (last.t - f.t) / 1000;
  return { rate: (total - f.count) / Math.max(0.001, seconds), seconds, firstAt: f.t };
}

function series(samples: Sample[], from: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    out.push([(b.t - from) / 1000, ((b.count - a.count) * 1000) / Math.max(1, b.t - a.t)]);
  }
  return out;
}

async function main(): Promise<void> {
  const p = new TestPipeline('bench');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'walrelay-bench-'));
  const sqliteFile = path.join(dir, 'bench.sqlite');
  const mysqlDb = `walrelay_${p.id}`;
  const mysqlUrl = MYSQL_URL.replace(/\/[^/]*$/, `/${mysqlDb}`);
  // Two pg_recvlogical runs read the same changes from their own slots; the faster is the ceiling
  // (one run of ≈1.5 s varies by ±30% on this machine, and the ratio should not flatter the source).
  const recvSlots = [`${p.id}_recv`, `${p.id}_recv2`];
  const dbzSlots = [`${p.id}_dbz1`, `${p.id}_dbz2`];
  const compareDbs = [1, 2].flatMap((i) => [`${mysqlDb}_cw${i}`, `${mysqlDb}_cd${i}`]);
  const result: Record<string, unknown> = {};
  let db: pg.Client | undefined;
  try {
    log(`load before: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} cpus)`);
    machineCpu.start();
    await p.setup((s) => [
      `CREATE TABLE ${s}.rows (id int8 PRIMARY KEY, a int4 NOT NULL, b int8, c text, d timestamptz, e numeric(12,2), f bool)`,
      `CREATE TABLE ${s}.lat (id int8 PRIMARY KEY, pad text)`,
      `CREATE TABLE ${s}.marker (id serial PRIMARY KEY)`,
      `CREATE TABLE ${s}.snap (id int8 PRIMARY KEY, a int4, pad text)`,
    ]);
    db = p.db;
    const s = q(p.schema);
    await db.query(`CREATE PUBLICATION ${q(p.publication)} FOR TABLE ${s}.rows, ${s}.lat, ${s}.snap`);
    p.capture('rows', 'lat', 'snap');
    // Snapshot requests go through the signal table (the source creates it); the bench's own
    // publication must publish it, as an operator's would.
    process.env.WALRELAY_SIGNAL_TABLE = `${p.schema}.walrelay_signals`;
    await db.query(signalTableDdl({ schema: p.schema, table: 'walrelay_signals' }));
    await db.query(`ALTER PUBLICATION ${q(p.publication)} ADD TABLE ${s}.walrelay_signals`);
    // The incremental snapshot's table is filled before the slot exists: only a snapshot carries its rows.
    if (INC_ROWS > 0) await db.query(`INSERT INTO ${s}.snap SELECT g, g % 1000, rpad(md5(g::text), 100, 'x') FROM generate_series(1, ${INC_ROWS}) g`);
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${mysqlDb}\``);
    await admin.end();

    // 1. The source creates its slot, then stops: the N changes wait in the slot.
    /** Starts a source only to create its slot, and stops it: the changes written next wait there. */
    const createSlot = async (env: Record<string, string>, slot: string, name: string): Promise<RunningProcess> => {
      const init = p.startSource(env, name);
      for (;;) {
        const r = await db!.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
        if (r.rows[0]?.active) break;
        if (init.child.exitCode !== null) throw new Error(`source exited; log ${init.logFile}`);
        await sleep(200);
      }
      if (name === 'source-init') {
        // A source that started, created its slot and streams nothing: its footprint just after
        // start-up, and once idle (after idleMemoryReleaseMs, 10 s by default, of quiet).
        await sleep(3_000);
        startedRss['source (started 3 s ago, streaming nothing)'] = procStatus(init.child.pid, 'VmRSS');
        if (IDLE_SECONDS > 0) {
          await sleep(IDLE_SECONDS * 1000);
          await noteIdle(`source (fresh, ${IDLE_SECONDS + 3} s streaming nothing)`, init);
        }
      }
      await init.stop();
      return init;
    };
    /**
     * The wide-row workload: ≈2 KB rows of 20 columns of mixed types (int4, int8, numeric, float4/8,
     * text, varchar, timestamptz, timestamp, date, uuid, jsonb, bool, bytea), `n` inserts in
     * transactions of 100, measured like the narrow one (pg_recvlogical from its own slot, then the
     * source catching up from its slot), with its own publication, slot and topic prefix.
     */
    const wideSourcePhase = async (n: number): Promise<Record<string, unknown>> => {
      const s = q(p.schema);
      await db!.query(
        `CREATE TABLE ${s}.wide (id int8 PRIMARY KEY, i1 int4, i2 int4, b1 int8, b2 int8, n1 numeric(18,4), n2 numeric(12,2), f1 float8, f2 float4, t1 text, t2 text, t3 text, v1 varchar(200), ts1 timestamptz, ts2 timestamp, d1 date, u1 uuid, j1 jsonb, bo bool, by1 bytea)`,
      );
      const pub = `${p.publication}_wide`;
      await db!.query(`CREATE PUBLICATION ${q(pub)} FOR TABLE ${s}.wide`);
      const env = { WALRELAY_SNAPSHOT: 'never', WALRELAY_SLOT: `${p.slot}_wide`, WALRELAY_PUBLICATION: pub, WALRELAY_TOPIC_PREFIX: `${p.prefix}_wide`, WALRELAY_TABLES: `${s}.wide` };
      await createSlot(env, env.WALRELAY_SLOT, 'source-wide-init');
      const recvWide = [`${p.id}_recv_wide`, `${p.id}_recv_wide2`];
      for (const slot of recvWide) await db!.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
      let lastInTx = '0/0';
      for (let i = 0; i < n; i += 100) {
        const k = Math.min(100, n - i);
        const last = i + k >= n;
        if (last) await db!.query('BEGIN');
        await db!.query(
          `INSERT INTO ${s}.wide SELECT g, g % 1000, g % 7, g * 31, g * 17, g / 7.0, (g % 100000) / 100.0, g / 3.0, g / 9.0, ` +
            `repeat(md5(g::text), 19), repeat(md5((g + 1)::text), 19), repeat(md5((g + 2)::text), 12), repeat(md5((g + 3)::text), 6), ` +
            `now(), now()::timestamp, current_date, md5(g::text)::uuid, jsonb_build_object('g', g, 'k', md5(g::text)), g % 2 = 0, decode(md5(g::text) || md5((g + 5)::text), 'hex') ` +
            `FROM generate_series(${i + 1}, ${i + k}) g`,
        );
        if (last) {
          lastInTx = (await db!.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l as string;
          await db!.query('COMMIT');
        }
      }
      const endLsn = (await db!.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
      const rowBytes = (await db!.query(`SELECT avg(pg_column_size(r.*))::int AS w FROM (SELECT * FROM ${s}.wide LIMIT 1000) r`)).rows[0].w as number;
      const runs: { seconds: number; from: number; to: number }[] = [];
      for (const slot of recvWide) {
        runs.push(await pgRecvlogical(slot, endLsn, pub));
        await db!.query('SELECT pg_drop_replication_slot($1)', [slot]);
      }
      const fastest = fastestRun(runs);
      const ceiling = n / fastest.seconds;
      log(`wide rows: pg_recvlogical ${ceiling.toFixed(0)} changes/s; ${noteCpu('wide pg_recvlogical', fastest.from, fastest.to)}`);
      const port = await freePort();
      const wideSource = p.startSource({ ...env, WALRELAY_HTTP_PORT: String(port) }, 'source-wide');
      const samples = await sampleUntil(
        'source-wide',
        wideSource,
        port,
        (m) => sum(m, 'walrelay_source_changes_total', `table="${p.schema}.wide"`),
        (m, c) => c >= n && BigInt(Math.round(sum(m, 'walrelay_source_confirmed_lsn'))) >= lsnNum(lastInTx),
        600_000,
      );
      const rate = rateOf(samples, n);
      const wideCpu = noteCpu('wide source', rate.firstAt, machineCpu.readNow());
      const phase = phaseOf(wideSource, rate, n);
      const wideCost = per100k(processCost(wideSource.child.pid), n);
      const produce = produceFigures(await scrape(port));
      await wideSource.stop();
      log(`wide rows: source ${n} changes committed to Kafka in ${rate.seconds.toFixed(2)}s = ${rate.rate.toFixed(0)} changes/s (${((100 * rate.rate) / ceiling).toFixed(0)}% of pg_recvlogical; ${phase.cpuSeconds.toFixed(1)} CPU s; peak RSS ${phase.peakRssMB} MB); ${produce.requests} produce requests of ${(produce.bytes / Math.max(1, produce.requests) / 1048576).toFixed(1)} MB took ${produce.seconds.toFixed(2)} s, ${produce.kafkaTransactions} Kafka transactions; ${waitedText(produce)}`);
      log(`wide rows, source: ${wideCpu}`);
      return { table: 'wide (20 columns: int8 PK, 2 int4, 2 int8, 2 numeric, float8, float4, 3 text, varchar(200), timestamptz, timestamp, date, uuid, jsonb, bool, bytea)', changes: n, rowBytes, txSize: 100, ceiling, changesPerSecond: rate.rate, seconds: rate.seconds, ofCeiling: rate.rate / ceiling, cpuSecondsPer100k: phase.cpuSecondsPer100k, costPer100k: wideCost, peakRssMB: phase.peakRssMB, produce };
    };
    let source = await createSlot({ WALRELAY_SNAPSHOT: 'never' }, p.slot, 'source-init');
    for (const slot of recvSlots) await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    // --compare debezium: a second walrelay source (own slot and prefix) and two Debezium slots hold the same changes.
    const second = { WALRELAY_SNAPSHOT: 'never', WALRELAY_SLOT: `${p.slot}_2`, WALRELAY_TOPIC_PREFIX: `${p.prefix}_w2` };
    if (COMPARE) {
      await requireConnect();
      await createSlot(second, second.WALRELAY_SLOT, 'source-init-2');
      for (const slot of dbzSlots) await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
    }
    const w0 = Date.now();
    let lastTxLsn = '0/0';
    for (let i = 0; i < N; i += T) {
      const n = Math.min(T, N - i);
      const last = i + n >= N;
      if (last) await db.query('BEGIN');
      await db.query(
        `INSERT INTO ${s}.rows SELECT g, g % 100000, g::int8 * 7919, rpad(md5(g::text), 100, 'x'), now(), (g % 100000) / 100.0, g % 2 = 0 FROM generate_series(${i + 1}, ${i + n}) g`,
      );
      if (last) {
        // A position inside the last transaction: a confirmed LSN at or past it covers its commit.
        lastTxLsn = (await db.query('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0].l as string;
        await db.query('COMMIT');
      }
    }
    const lastLsn = (await db.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
    await db.query(`INSERT INTO ${s}.marker DEFAULT VALUES`);
    const writeSeconds = (Date.now() - w0) / 1000;
    const width = (await db.query(`SELECT avg(pg_column_size(r.*))::int AS w FROM (SELECT * FROM ${s}.rows LIMIT 1000) r`)).rows[0].w as number;
    const workload = {
      tables: 1,
      rowBytes: width,
      columns: 'id int8 PK, a int4, b int8, c text(100), d timestamptz, e numeric(12,2), f bool',
      changes: N,
      txSize: T,
      transactions: Math.ceil(N / T),
      mix: '100% inserts',
      latency: { table: 'lat (id int8 PK, pad text)', offeredTxPerSecond: RATE, rowsPerTx: 1, seconds: LAT_SECONDS, high: { changesPerSecond: HIGH_RATE, rowsPerTx: HIGH_ROWS_PER_TX, seconds: HIGH_SECONDS } },
    };
    result.workload = workload;
    log(`workload: ${JSON.stringify(workload)}; written in ${writeSeconds.toFixed(1)}s`);

    // 2. Ceiling: pg_recvlogical reads the same changes from its own pgoutput slot.
    const lsnNum = (l: string): bigint => {
      const [hi, lo] = l.split('/');
      return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
    };
    const recvWindows: { seconds: number; from: number; to: number }[] = [];
    for (const slot of recvSlots) {
      recvWindows.push(await pgRecvlogical(slot, lastLsn, p.publication));
      await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
    const recvRuns = recvWindows.map((x) => x.seconds);
    const recvFastest = fastestRun(recvWindows);
    const recvSeconds = recvFastest.seconds;
    result.pgRecvlogical = { changes: N, seconds: recvSeconds, changesPerSecond: N / recvSeconds, runsSeconds: recvRuns, options: 'pgoutput proto_version=1, -f /dev/null, --endpos = LSN after the last insert; two runs from two slots, the faster counts' };
    log(`pg_recvlogical: ${N} changes in ${recvRuns.map((x) => x.toFixed(2)).join(' s / ')} s; the faster: ${(N / recvSeconds).toFixed(0)} changes/s; ${noteCpu('pg_recvlogical', recvFastest.from, recvFastest.to)}`);

    // 3. Source throughput: catch up N changes; done when the LSN of the last is confirmed (after the Kafka commit).
    const sourcePort = await freePort();
    source = p.startSource({ WALRELAY_SNAPSHOT: 'never', WALRELAY_HTTP_PORT: String(sourcePort) }, 'source');
    const table = `${p.schema}.rows`;
    const srcSamples = await sampleUntil(
      'source',
      source,
      sourcePort,
      (m) => sum(m, 'walrelay_source_changes_total', `table="${table}"`),
      (m, c) => c >= N && BigInt(Math.round(sum(m, 'walrelay_source_confirmed_lsn'))) >= lsnNum(lastTxLsn),
      600_000,
    );
    const src = rateOf(srcSamples, N);
    const srcCpuShares = noteCpu('source', src.firstAt, machineCpu.readNow());
    const srcCost = processCost(source.child.pid);
    const srcCpu = srcCost.cpuSeconds;
    const srcPer100k = per100k(srcCost, N);
    const produce = produceFigures(await scrape(sourcePort));
    result.source = { changes: N, seconds: src.seconds, changesPerSecond: src.rate, wallSecondsFromStart: (srcSamples.at(-1)!.t - srcSamples[0]!.t) / 1000, cpuSecondsPer100k: srcPer100k.cpuSeconds, costPer100k: srcPer100k, produce };
    log(`source: ${N} changes committed to Kafka in ${src.seconds.toFixed(2)}s = ${src.rate.toFixed(0)} changes/s (${srcCpu.toFixed(1)} CPU s); ${produce.requests} produce requests took ${produce.seconds.toFixed(2)} s, ${produce.kafkaTransactions} Kafka transactions; ${waitedText(produce)}`);
    log(`source: ${srcCpuShares}`);

    // 3b. --compare debezium: Debezium, walrelay again, Debezium again (each from its own waiting slot).
    const compare: { source: { walrelay: PhaseResult[]; debezium: PhaseResult[] }; sink: { walrelay: PhaseResult[]; debezium: PhaseResult[] } } = {
      source: { walrelay: [phaseOf(source, src, N)], debezium: [] },
      sink: { walrelay: [], debezium: [] },
    };
    let dbzTopic = '';
    const dbzPrefixes = [`${p.prefix}_dbz1`, `${p.prefix}_dbz2`];
    if (COMPARE) {
      for (let run = 0; run < 2; run++) {
        const d = await debeziumSource({ name: `${p.id}_dbz${run + 1}`, topicPrefix: dbzPrefixes[run]!, slot: dbzSlots[run]!, publication: p.publication, database: new URL(PG_URL).pathname.slice(1), table: `${p.schema}.rows`, n: N });
        compare.source.debezium.push(d);
        dbzTopic ||= d.topic;
        log(`Debezium source run ${run + 1}: ${N} changes in its topic in ${d.seconds.toFixed(2)}s = ${d.perSecond.toFixed(0)} changes/s (${d.cpuSeconds.toFixed(1)} CPU s of the Connect worker, RSS ≤ ${d.peakRssMB} MB)`);
        if (run === 1) break;
        const port2 = await freePort();
        const s2 = p.startSource({ ...second, WALRELAY_HTTP_PORT: String(port2) }, 'source-2');
        const samples2 = await sampleUntil('source-2', s2, port2, (m) => sum(m, 'walrelay_source_changes_total', `table="${table}"`), (m, c) => c >= N && BigInt(Math.round(sum(m, 'walrelay_source_confirmed_lsn'))) >= lsnNum(lastTxLsn), 600_000);
        const r2 = rateOf(samples2, N);
        const w2 = phaseOf(s2, r2, N);
        compare.source.walrelay.push(w2);
        log(`walrelay source run 2: ${r2.rate.toFixed(0)} changes/s (${w2.cpuSeconds.toFixed(1)} CPU s)`);
        await s2.stop();
      }
    }

    // 4. Sink throughput: fresh groups replay the topic into empty targets, one after the other.
    const sinks: { name: string; kind: 'sink-sqlite' | 'sink-mysql'; url: string; proc?: RunningProcess; port?: number; samples?: Sample[] }[] = [
      { name: 'sink-sqlite', kind: 'sink-sqlite', url: sqliteFile },
      { name: 'sink-mysql', kind: 'sink-mysql', url: mysqlUrl },
    ];
    const sinkResults: Record<string, unknown> = {};
    for (const k of sinks) {
      k.port = await freePort();
      k.proc = p.startSink(k.kind, k.url, { WALRELAY_GROUP_ID: `${p.id}_${k.kind}`, WALRELAY_HTTP_PORT: String(k.port) }, k.name);
      k.samples = await sampleUntil(k.name, k.proc, k.port, (m) => sum(m, 'walrelay_sink_records_applied_total', 'table="rows"'), (_m, c) => c >= N, 900_000);
      const r = rateOf(k.samples, N);
      const sinkCpu = noteCpu(k.name, r.firstAt, machineCpu.readNow());
      const bm = await scrape(k.port);
      const txCount = sum(bm, 'walrelay_sink_batch_records_count');
      const meanTx = txCount > 0 ? sum(bm, 'walrelay_sink_batch_records_sum') / txCount : NaN;
      sinkResults[k.name] = { rows: N, seconds: r.seconds, rowsPerSecond: r.rate, wallSecondsFromStart: (k.samples.at(-1)!.t - k.samples[0]!.t) / 1000, targetTransactions: txCount, meanRecordsPerTransaction: meanTx };
      log(`${k.name}: ${N} rows applied in ${r.seconds.toFixed(2)}s = ${r.rate.toFixed(0)} rows/s, in ${txCount} target transactions of ${meanTx.toFixed(0)} records on average`);
      log(`${k.name}: ${sinkCpu}`);
    }
    result.sinks = sinkResults;
    for (const k of sinks) {
      const cost = per100k(processCost(k.proc!.child.pid), N);
      (sinkResults[k.name] as Record<string, unknown>).cpuSecondsPer100k = cost.cpuSeconds;
      (sinkResults[k.name] as Record<string, unknown>).costPer100k = cost;
    }

    // 4a. The sinks' ceiling: the same drivers writing the same rows in 5,000-row transactions (the sink's batch.maxRecords), no Kafka, no decoding.
    const shape = await tableShape(`${p.prefix}.${p.schema}.rows`);
    const ceilingDb = `${mysqlDb}_ceiling`;
    {
      const admin = await mysql.createConnection({ uri: MYSQL_URL });
      await admin.query(`CREATE DATABASE \`${ceilingDb}_full\``);
      await admin.query(`CREATE DATABASE \`${ceilingDb}_same\``);
      await admin.end();
    }
    // Twice per driver: in transactions of the sink's batch.maxRecords (5,000: the most a sink
    // transaction holds), and of the size the sink's transactions had in this replay (issue 13's
    // "transactions of the same size"; a replay's transactions are a partition's fetch, smaller).
    const sameSize = (name: string): number => Math.max(1, Math.round((sinkResults[name] as { meanRecordsPerTransaction: number }).meanRecordsPerTransaction || 5_000));
    const drivers: Record<string, (db: string) => TargetDriver> = {
      'sink-sqlite': (db) => new SqliteTarget({ url: path.join(dir, `${db}.sqlite`) }),
      'sink-mysql': (db) => new MysqlTarget({ url: MYSQL_URL.replace(/\/[^/]*$/, `/${db}`) }),
    };
    for (const [k, driver] of Object.entries(drivers)) {
      const r = sinkResults[k] as { rowsPerSecond: number } & Record<string, unknown>;
      const full = await driverCeiling(driver(`${ceilingDb}_full`), shape, N, 5_000);
      const sameFrom = machineCpu.readNow();
      const same = await driverCeiling(driver(`${ceilingDb}_same`), shape, N, sameSize(k));
      const sameCpu = noteCpu(`${k} ceiling`, sameFrom, machineCpu.readNow());
      r.ceilingRowsPerSecond = full.rowsPerSecond;
      r.ofCeiling = r.rowsPerSecond / full.rowsPerSecond;
      r.sameSizeCeilingRowsPerSecond = same.rowsPerSecond;
      r.sameSizeTxRows = same.txRows;
      r.ofSameSizeCeiling = r.rowsPerSecond / same.rowsPerSecond;
      log(`${k} ceiling (same driver, same rows, no Kafka/decoding): ${full.rowsPerSecond.toFixed(0)} rows/s in ${full.txRows}-row transactions (the sink reached ${(100 * (r.ofCeiling as number)).toFixed(0)}%), ${same.rowsPerSecond.toFixed(0)} rows/s in ${same.txRows}-row ones like the sink's (${(100 * (r.ofSameSizeCeiling as number)).toFixed(0)}%); the latter's ${sameCpu}`);
    }
    {
      const admin = await mysql.createConnection({ uri: MYSQL_URL });
      await admin.query(`DROP DATABASE IF EXISTS \`${ceilingDb}_full\``);
      await admin.query(`DROP DATABASE IF EXISTS \`${ceilingDb}_same\``);
      await admin.end();
    }

    // 4b. --compare debezium: the same Debezium-written topic replayed into empty MariaDB databases, interleaved.
    if (COMPARE) {
      for (let run = 0; run < 2; run++) {
        const admin = await mysql.createConnection({ uri: MYSQL_URL });
        await admin.query(`CREATE DATABASE \`${compareDbs[run * 2]}\``);
        await admin.end();
        const port = await freePort();
        const w = p.startSink('sink-mysql', MYSQL_URL.replace(/\/[^/]*$/, `/${compareDbs[run * 2]}`), { WALRELAY_TOPIC_PREFIX: dbzPrefixes[0]!, WALRELAY_GROUP_ID: `${p.id}_cmp${run}`, WALRELAY_HTTP_PORT: String(port) }, `sink-mysql-dbz-${run + 1}`);
        const ws = await sampleUntil(`sink-mysql-dbz-${run + 1}`, w, port, (m) => sum(m, 'walrelay_sink_records_applied_total', 'table="rows"'), (_m, c) => c >= N, 900_000);
        const wr = rateOf(ws, N);
        const ws1 = phaseOf(w, wr, N);
        compare.sink.walrelay.push(ws1);
        log(`walrelay-sink-mysql on Debezium's topic, run ${run + 1}: ${wr.rate.toFixed(0)} rows/s (${ws1.cpuSeconds.toFixed(1)} CPU s)`);
        await w.stop();
        const d = await debeziumJdbcSink({ name: `${p.id}_jdbc${run + 1}`, topic: dbzTopic, database: compareDbs[run * 2 + 1]!, n: N });
        compare.sink.debezium.push(d);
        log(`Debezium JDBC sink run ${run + 1}: ${d.perSecond.toFixed(0)} rows/s (${d.cpuSeconds.toFixed(1)} CPU s of the Connect worker, RSS ≤ ${d.peakRssMB} MB)`);
      }
      result.compareDebezium = {
        ...compare,
        setup:
          'Kafka Connect 4.1.1 (one distributed worker), Debezium PostgreSQL connector 3.6.1 (pgoutput, snapshot.mode no_data, 1 partition), Debezium JDBC sink 3.6.0 (upsert, primary.key.mode record_key, MariaDB driver), both with Apicurio AvroConverter 2.6.13 (Confluent framing, contentId) against the same registry; walrelay: its own Avro encoder and registry client, built dist/ binaries. Sinks replay the topic Debezium wrote. Interleaved: walrelay, Debezium, walrelay, Debezium.',
      };
    }

    // 5. End-to-end latency at a fixed offered rate, all processes running. The processes'
    // own histograms are read as the difference over this phase.
    // Warm-up: the lat topic is created by the first change and the sinks must discover it
    // (topic refresh, resubscribe) before latency means anything.
    await db.query(`INSERT INTO ${s}.lat VALUES (0, 'warm-up')`);
    const warm = Date.now();
    for (;;) {
      let inSqlite = false;
      let inMysql = false;
      try {
        const sdb = new Database(sqliteFile, { readonly: true, fileMustExist: true });
        inSqlite = sdb.prepare('SELECT 1 FROM lat WHERE id = 0').get() !== undefined;
        sdb.close();
        const c = await mysql.createConnection({ uri: mysqlUrl });
        const [r] = await c.query('SELECT 1 FROM lat WHERE id = 0');
        inMysql = (r as unknown[]).length > 0;
        await c.end();
      } catch {
        /* not yet */
      }
      if (inSqlite && inMysql) break;
      if (Date.now() - warm > 120_000) throw new Error('warm-up row did not reach both targets in 120 s');
      await sleep(100);
    }
    log(`warm-up row reached both targets after ${((Date.now() - warm) / 1000).toFixed(1)}s (topic creation and discovery)`);
    /** Transactions of `rowsPerTx` rows into lat (ids first..first+total-1) at `rate` tx/s: commit → visible in each target. */
    const latencyRun = async (what: string, first: number, total: number, rate: number, rowsPerTx = 1) => {
      const before: Record<string, Metrics> = { source: await scrape(sourcePort) };
      for (const k of sinks) before[k.name] = await scrape(k.port!);
      const committedAt = new Float64Array(total + 1);
      const seen: Record<string, Float64Array> = { 'sink-sqlite': new Float64Array(total + 1), 'sink-mysql': new Float64Array(total + 1) };
      // Each writer commits one transaction at a time (≈1 ms a commit here): enough of them to offer the rate.
      const writers = await Promise.all(Array.from({ length: Math.max(4, Math.ceil(rate / 400)) }, () => pgConnect()));
      const txCount = Math.ceil(total / rowsPerTx);
      let next = 1;
      let stopPolling = false;
      const lat0 = performance.now() + 200;
      const now = (): number => performance.now();
      const writing = Promise.all(
        writers.map(async (c) => {
          for (;;) {
            const i = next++;
            if (i > txCount) return;
            const due = lat0 + ((i - 1) * 1000) / rate;
            const wait = due - now();
            if (wait > 0) await sleep(wait);
            const from = (i - 1) * rowsPerTx + 1;
            const to = Math.min(total, i * rowsPerTx);
            const values: string[] = [];
            for (let r = from; r <= to; r++) values.push(`(${first + r - 1}, 'x')`);
            await c.query(`INSERT INTO ${s}.lat VALUES ${values.join(',')}`);
            const t = now();
            for (let r = from; r <= to; r++) committedAt[r] = t;
          }
        }),
      );
      const pollSqlite = (async () => {
        const arr = seen['sink-sqlite']!;
        let low = 0;
        let sdb: Database.Database | undefined;
        while (!stopPolling) {
          try {
            sdb ??= new Database(sqliteFile, { readonly: true, fileMustExist: true });
            const rows = sdb.prepare('SELECT id FROM lat WHERE id > ?').raw(true).all(low + first - 1) as [number][];
            const t = now();
            for (const [id] of rows) if (id - first + 1 <= total && arr[id - first + 1] === 0) arr[id - first + 1] = t;
            while (low < total && arr[low + 1]! > 0) low++;
          } catch {
            /* table not there yet */
          }
          await sleep(5);
        }
        sdb?.close();
      })();
      const pollMysql = (async () => {
        const arr = seen['sink-mysql']!;
        let low = 0;
        const conn = await mysql.createConnection({ uri: mysqlUrl });
        while (!stopPolling) {
          try {
            const [rows] = await conn.query({ sql: 'SELECT id FROM lat WHERE id > ?', values: [low + first - 1], rowsAsArray: true });
            const t = now();
            for (const [id] of rows as [number][]) if (Number(id) - first + 1 <= total && arr[Number(id) - first + 1] === 0) arr[Number(id) - first + 1] = t;
            while (low < total && arr[low + 1]! > 0) low++;
          } catch {
            /* table not there yet */
          }
          await sleep(5);
        }
        await conn.end();
      })();
      const rssDuring = setInterval(() => {
        notePeak('source', source);
        for (const k of sinks) notePeak(k.name, k.proc!);
      }, SAMPLE_MS);
      await writing;
      const offeredSeconds = (now() - lat0) / 1000;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && !Object.values(seen).every((a) => a.slice(1).every((x) => x > 0))) await sleep(100);
      stopPolling = true;
      await Promise.all([pollSqlite, pollMysql]);
      clearInterval(rssDuring);
      await Promise.all(writers.map((c) => c.end()));
      const latency: Record<string, unknown> = {};
      const latSeries: Record<string, { p50: [number, number][]; p99: [number, number][] }> = {};
      for (const [name, arr] of Object.entries(seen)) {
        const l: number[] = [];
        const perSecond = new Map<number, number[]>();
        let missing = 0;
        for (let i = 1; i <= total; i++) {
          if (arr[i] === 0) {
            missing++;
            continue;
          }
          const v = Math.max(0, arr[i]! - committedAt[i]!);
          l.push(v);
          const sec = Math.floor((committedAt[i]! - lat0) / 1000);
          (perSecond.get(sec) ?? perSecond.set(sec, []).get(sec)!).push(v);
        }
        l.sort((a, b) => a - b);
        const m = histDelta(before[name]!, await scrape(sinks.find((k) => k.name === name)!.port!));
        latency[name] = {
          rows: total,
          missing,
          p50ms: pct(l, 0.5),
          p99ms: pct(l, 0.99),
          maxms: l.at(-1),
          sinkMetricP50ms: (histQuantile(m, 'walrelay_sink_end_to_end_seconds', 0.5) ?? NaN) * 1000,
          sinkMetricP99ms: (histQuantile(m, 'walrelay_sink_end_to_end_seconds', 0.99) ?? NaN) * 1000,
        };
        latSeries[name] = { p50: [], p99: [] };
        for (const [sec, vs] of [...perSecond.entries()].sort((a, b) => a[0] - b[0])) {
          vs.sort((a, b) => a - b);
          latSeries[name]!.p50.push([sec, pct(vs, 0.5)]);
          latSeries[name]!.p99.push([sec, pct(vs, 0.99)]);
        }
        log(`${what} ${name}: p50 ${pct(l, 0.5).toFixed(1)} ms, p99 ${pct(l, 0.99).toFixed(1)} ms, max ${l.at(-1)?.toFixed(1)} ms (${missing} not seen)`);
      }
      const sm = histDelta(before.source!, await scrape(sourcePort));
      log(`${what}: offered ${rate} tx/s of ${rowsPerTx} row(s), achieved ${(txCount / offeredSeconds).toFixed(0)} tx/s = ${(total / offeredSeconds).toFixed(0)} changes/s over ${offeredSeconds.toFixed(1)}s`);
      return {
        offeredTxPerSecond: rate,
        rowsPerTx,
        offeredChangesPerSecond: rate * rowsPerTx,
        achievedTxPerSecond: txCount / offeredSeconds,
        achievedChangesPerSecond: total / offeredSeconds,
        seconds: offeredSeconds,
        method: 'client COMMIT acknowledged → row first seen by a poller of the target (every 5 ms)',
        targets: latency,
        sourceCommitToKafkaP50ms: (histQuantile(sm, 'walrelay_source_commit_to_ack_seconds', 0.5) ?? NaN) * 1000,
        sourceCommitToKafkaP99ms: (histQuantile(sm, 'walrelay_source_commit_to_ack_seconds', 0.99) ?? NaN) * 1000,
        series: latSeries,
      };
    };
    const latencyResult = await latencyRun('latency', 1, Math.round(RATE * LAT_SECONDS), RATE);
    const { series: latSeries, ...latencyFigures } = latencyResult;
    result.latency = latencyFigures;
    if (HIGH_SECONDS > 0 && HIGH_RATE > 0) {
      result.latencyHigh = await optionalPhase(`latency at ${HIGH_RATE} changes/s`, async () => {
        const { series: _s, ...figures } = await latencyRun(
          `latency at ${HIGH_RATE} changes/s`,
          500_000_000,
          Math.round(HIGH_RATE * HIGH_SECONDS),
          HIGH_RATE / HIGH_ROWS_PER_TX,
          HIGH_ROWS_PER_TX,
        );
        return figures;
      });
    }

    // 6. An incremental snapshot of INC_ROWS rows (requested as an operator would) while 1-row
    // transactions stream at RATE: its rows/s, and the stream's latency during it.
    if (INC_ROWS > 0) {
      const snapTable = `${p.schema}.snap`;
      const snapCount = (m: Metrics): number => sum(m, 'walrelay_source_changes_total', `table="${snapTable}",op="r"`);
      if (snapCount(await scrape(sourcePort)) > 0) throw new Error(`${snapTable} was snapshotted before the request: the phase would not measure what it says`);
      const request = startProcess('source', p.sourceEnv({ WALRELAY_TABLES: p.tablesEnv() }), `${p.id}-snapshot-request`, ['snapshot', `${q(p.schema)}.snap`]);
      p.processes.push(request);
      const code = await request.exited;
      if (code !== 0) throw new Error(`walrelay-source snapshot exited ${code}; log ${request.logFile}`);
      const during = latencyRun('latency during the incremental snapshot', 1_000_000_000, Math.round(RATE * INC_LAT_SECONDS), RATE);
      const snapSamples = await sampleUntil('source', source, sourcePort, snapCount, (_m, c) => c >= INC_ROWS, 900_000);
      const snap = rateOf(snapSamples, INC_ROWS);
      const { series: _series, ...duringFigures } = await during;
      result.incrementalSnapshot = { table: `${snapTable} (id int8 PK, a int4, pad text(100))`, rows: INC_ROWS, seconds: snap.seconds, rowsPerSecond: snap.rate, latencyDuring: duringFigures };
      log(`incremental snapshot: ${INC_ROWS} rows published in ${snap.seconds.toFixed(2)}s = ${snap.rate.toFixed(0)} rows/s while ${RATE} tx/s streamed`);
    }

    notePeak('source', source);
    for (const k of sinks) notePeak(k.name, k.proc!);

    // 7. Idle: every process after IDLE_SECONDS without changes (the binaries give the heap grown
    // during the run back after idleMemoryReleaseMs, 10 s by default, of quiet).
    if (IDLE_SECONDS > 0) {
      await sleep(IDLE_SECONDS * 1000);
      await noteIdle(`source (after the run, ${IDLE_SECONDS} s idle)`, source, sourcePort);
      for (const k of sinks) await noteIdle(`${k.name} (after the run, ${IDLE_SECONDS} s idle)`, k.proc!, k.port);
    }
    result.idleResidentPartsMB = idleParts;
    result.idleRssMB = Object.fromEntries(Object.entries(idleRss).map(([k, v]) => [k, Math.round(v / 1048576)]));
    result.startedRssMB = Object.fromEntries(Object.entries(startedRss).map(([k, v]) => [k, Math.round(v / 1048576)]));
    log(`idle RSS: ${JSON.stringify(result.idleRssMB)} (MB); just started: ${JSON.stringify(result.startedRssMB)} (MB)`);
    for (const [k, v] of Object.entries(idleParts)) log(`idle ${k}: ${Object.entries(v).map(([n, mb]) => `${n} ${mb}`).join(', ')} (MB)`);

    // 8. The wide-row workload through the source, alone on the machine (the other processes stopped):
    // its own table, publication, slot, topic prefix and pg_recvlogical ceiling.
    if (WIDE_N > 0) {
      await Promise.all([source.stop(), ...sinks.map((k) => k.proc!.stop())]);
      result.wide = await optionalPhase('wide-row source', () => wideSourcePhase(WIDE_N));
    }

    result.cpuByPhase = cpuByPhase;
    result.peakRssMB = Object.fromEntries(Object.entries(peakRss).map(([k, v]) => [k, Math.round(v / 1048576)]));
    log(`peak RSS: ${JSON.stringify(result.peakRssMB)} (MB)`);
    result.memoryPeaksMB = memoryPeaks;
    log(`during the throughput phases, largest V8 heap used / heap total / external (Buffers) in MB: ${JSON.stringify(memoryPeaks)}`);
    result.incomplete = incomplete;
    result.machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavg: os.loadavg(), uptime: (await exec('uptime')).stdout.trim(), node: process.version };
    log(`load after: ${(result.machine as { uptime: string }).uptime}`);

    // Output.
    const stamp = new Date(t0).toISOString().replace(/[:.]/g, '-');
    const out = path.join(ROOT, '.bench');
    mkdirSync(out, { recursive: true });
    const plots = {
      throughput: [
        { name: 'source changes/s (catch-up)', points: series(srcSamples, src.firstAt) },
        ...sinks.map((k) => ({ name: `${k.name} rows/s (replay)`, points: series(k.samples!, rateOf(k.samples!, N).firstAt) })),
      ],
      latency: Object.entries(latSeries).flatMap(([name, v]) => [
        { name: `${name} p50 ms`, points: v.p50 },
        { name: `${name} p99 ms`, points: v.p99 },
      ]),
      rss: [{ name: 'source', samples: srcSamples }, ...sinks.map((k) => ({ name: k.name, samples: k.samples! }))].map((x) => ({
        name: `${x.name} RSS MB`,
        points: x.samples.map((smp) => [(smp.t - x.samples[0]!.t) / 1000, smp.rss / 1048576] as [number, number]),
      })),
    };
    result.series = plots;
    writeFileSync(path.join(out, `${stamp}.json`), JSON.stringify(result, null, 2));
    writeFileSync(path.join(out, `${stamp}.html`), html(result, plots));
    log(`wrote .bench/${stamp}.json and .bench/${stamp}.html`);
    printSummary(result);
  } finally {
    machineCpu.stop();
    await Promise.all(p.processes.map((x) => x.stop(15_000)));
    if (PROFILE_DIR) {
      // Profiles are written when each process exits (SIGTERM ends them normally).
      const summary = summarizeProfiles(PROFILE_DIR, new Map(p.processes.map((x) => [x.child.pid ?? 0, x.name])));
      writeFileSync(path.join(PROFILE_DIR, 'summary.md'), summary);
      console.log(`\n== profiles (${path.relative(ROOT, PROFILE_DIR)}; summary.md)\n${summary}`);
    }
    if (COMPARE && db) {
      await dropSlots(db, dbzSlots).catch(() => undefined);
      await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`${p.slot}_2`]).catch(() => undefined);
      await dropDatabases(compareDbs).catch(() => undefined);
    }

    for (const slot of recvSlots) await db?.query('SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
    for (const slot of [`${p.id}_recv_wide`, `${p.id}_recv_wide2`, `${p.slot}_wide`]) await db?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]).catch(() => undefined);
    await db?.query(`DROP PUBLICATION IF EXISTS ${q(`${p.publication}_wide`)}`).catch(() => undefined);
    if (!args.keep) {
      await p.cleanup().catch(() => undefined);
      const admin = await mysql.createConnection({ uri: MYSQL_URL }).catch(() => undefined);
      await admin?.query(`DROP DATABASE IF EXISTS \`${mysqlDb}\``).catch(() => undefined);
      await admin?.end();
      const ka = testKafka().admin();
      await ka.connect().catch(() => undefined);
      const topics = (await ka.listTopics().catch(() => [] as string[])).filter((t) => t.startsWith(`${p.prefix}.`) || t.startsWith(`${p.prefix}_`));
      if (topics.length > 0) await ka.deleteTopics({ topics }).catch(() => undefined);
      await ka.disconnect().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function printSummary(r: Record<string, unknown>): void {
  const w = r.workload as { rowBytes: number; changes: number; txSize: number; tables: number; mix: string };
  const src = r.source as { changesPerSecond: number; seconds: number };
  const recv = r.pgRecvlogical as { changesPerSecond: number; seconds: number };
  const sinks = r.sinks as Record<string, { rowsPerSecond: number; seconds: number; ceilingRowsPerSecond?: number; sameSizeCeilingRowsPerSecond?: number; sameSizeTxRows?: number }>;
  const lat = r.latency as { offeredTxPerSecond: number; achievedTxPerSecond: number; targets: Record<string, { p50ms: number; p99ms: number; sinkMetricP50ms: number; sinkMetricP99ms: number }>; sourceCommitToKafkaP50ms: number; sourceCommitToKafkaP99ms: number };
  const m = r.machine as { uptime: string; cpus: number };
  const lines = [
    '',
    '== walrelay benchmark',
    `workload: ${w.tables} table, rows ≈ ${w.rowBytes} B, ${w.changes} changes in transactions of ${w.txSize}, ${w.mix}; latency: 1-row transactions at ${lat.offeredTxPerSecond} tx/s`,
    `pg_recvlogical (ceiling)   ${recv.changesPerSecond.toFixed(0).padStart(8)} changes/s  (${recv.seconds.toFixed(2)} s)`,
    `source → Kafka (acked)     ${src.changesPerSecond.toFixed(0).padStart(8)} changes/s  (${src.seconds.toFixed(2)} s, ${((100 * src.changesPerSecond) / recv.changesPerSecond).toFixed(0)}% of the ceiling)`,
    ...Object.entries(sinks).map(([k, v]) => `${(k + ' (replay)').padEnd(26)} ${v.rowsPerSecond.toFixed(0).padStart(8)} rows/s     (${v.seconds.toFixed(2)} s${v.ceilingRowsPerSecond ? `, ${((100 * v.rowsPerSecond) / v.ceilingRowsPerSecond).toFixed(0)}% of the driver's ${v.ceilingRowsPerSecond.toFixed(0)} rows/s in 5000-row transactions` : ''}${v.sameSizeCeilingRowsPerSecond ? `, ${((100 * v.rowsPerSecond) / v.sameSizeCeilingRowsPerSecond).toFixed(0)}% of its ${v.sameSizeCeilingRowsPerSecond.toFixed(0)} rows/s in ${v.sameSizeTxRows}-row ones like the sink's` : ''})`),
    `latency at ${lat.achievedTxPerSecond.toFixed(0)} tx/s achieved (commit → visible in target):`,
    ...Object.entries(lat.targets).map(([k, v]) => `  ${k.padEnd(12)} p50 ${v.p50ms.toFixed(1)} ms  p99 ${v.p99ms.toFixed(1)} ms   (sink metric ≈ p50 ${v.sinkMetricP50ms.toFixed(0)} ms, p99 ${v.sinkMetricP99ms.toFixed(0)} ms)`),
    `  source commit → Kafka commit (source metric) ≈ p50 ${lat.sourceCommitToKafkaP50ms.toFixed(0)} ms, p99 ${lat.sourceCommitToKafkaP99ms.toFixed(0)} ms`,
    `peak RSS (MB): ${Object.entries(r.peakRssMB as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `cost per 100k changes (each process's whole life), CPU s · of it system · minor page faults: ${costLine(r)}`,
    `idle RSS (MB): ${Object.entries((r.idleRssMB ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `just-started RSS (MB): ${Object.entries((r.startedRssMB ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `machine: ${m.cpus} cpus; ${m.uptime}`,
  ];
  const high = r.latencyHigh as
    | {
        completed?: false;
        reason?: string;
        offeredTxPerSecond: number;
        rowsPerTx: number;
        offeredChangesPerSecond: number;
        achievedChangesPerSecond: number;
        seconds: number;
        targets: Record<string, { p50ms: number; p99ms: number; missing: number }>;
      }
    | undefined;
  if (high && high.completed !== false) {
    lines.push(
      `latency at ${high.offeredChangesPerSecond} changes/s offered as ${high.offeredTxPerSecond} tx/s of ${high.rowsPerTx} row(s) (${high.achievedChangesPerSecond.toFixed(0)} changes/s achieved over ${high.seconds.toFixed(0)} s):`,
      ...Object.entries(high.targets).map(([k, v]) => `  ${k.padEnd(12)} p50 ${v.p50ms.toFixed(1)} ms  p99 ${v.p99ms.toFixed(1)} ms${v.missing ? `  (${v.missing} not seen)` : ''}`),
    );
  }
  const wide = r.wide as { completed?: false; changes: number; rowBytes: number; ceiling: number; changesPerSecond: number; seconds: number; peakRssMB: number; cpuSecondsPer100k: number } | undefined;
  if (wide && wide.completed !== false) {
    lines.push(
      `wide rows (≈${wide.rowBytes} B, 20 columns, ${wide.changes} inserts in transactions of 100):`,
      `  pg_recvlogical ${wide.ceiling.toFixed(0)} changes/s; source → Kafka ${wide.changesPerSecond.toFixed(0)} changes/s (${wide.seconds.toFixed(2)} s, ${((100 * wide.changesPerSecond) / wide.ceiling).toFixed(0)}% of the ceiling, ${wide.cpuSecondsPer100k.toFixed(1)} CPU s per 100k, peak RSS ${wide.peakRssMB} MB)`,
    );
  }
  // Issue 13's targets, each with the figure of this run.
  const peak = r.peakRssMB as Record<string, number>;
  const idle = (r.idleRssMB ?? {}) as Record<string, number>;
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met');
  const srcRatio = src.changesPerSecond / recv.changesPerSecond;
  const targets: [string, string, boolean | undefined][] = [
    ['source ≥ 60% of pg_recvlogical', `${(100 * srcRatio).toFixed(0)}%`, srcRatio >= 0.6],
    ['wide-row source ≥ 60% of pg_recvlogical', wide && wide.completed !== false ? `${((100 * wide.changesPerSecond) / wide.ceiling).toFixed(0)}%` : '—', wide && wide.completed !== false ? wide.changesPerSecond / wide.ceiling >= 0.6 : undefined],
    // Issue 13: "transactions of the same size" as the sink's; the 5,000-row figure is shown beside it.
    ...Object.entries(sinks).map(([k, v]): [string, string, boolean | undefined] => [
      `${k} ≥ 80% of its driver (same tx size)`,
      v.sameSizeCeilingRowsPerSecond ? `${((100 * v.rowsPerSecond) / v.sameSizeCeilingRowsPerSecond).toFixed(0)}% (${v.sameSizeTxRows}-row tx; ${v.ceilingRowsPerSecond ? ((100 * v.rowsPerSecond) / v.ceilingRowsPerSecond).toFixed(0) : '—'}% of 5000-row tx)` : '—',
      v.sameSizeCeilingRowsPerSecond ? v.rowsPerSecond / v.sameSizeCeilingRowsPerSecond >= 0.8 : undefined,
    ]),
    ['source peak RSS < 150 MB', `${peak.source} MB`, peak.source !== undefined ? peak.source < 150 : undefined],
    ...Object.keys(sinks).map((k): [string, string, boolean | undefined] => [`${k} peak RSS < 200 MB`, `${peak[k]} MB`, peak[k] !== undefined ? peak[k]! < 200 : undefined]),
    ...Object.entries(idle).map(([k, v]): [string, string, boolean | undefined] => [`idle ${k} < 80 MB`, `${v} MB`, v < 80]),
    ...(high && high.completed !== false ? Object.entries(high.targets).map(([k, v]): [string, string, boolean | undefined] => [`${k} p99 < 100 ms at ${high.offeredChangesPerSecond} changes/s`, `${v.p99ms.toFixed(0)} ms`, v.p99ms < 100 && v.missing === 0]) : []),
  ];
  lines.push('', '== targets (issue 13)', ...targets.map(([what, figure, ok]) => `  ${verdict(ok).padEnd(12)} ${what.padEnd(48)} ${figure}`));
  // What bounds each phase: a walrelay process near 1.00 with idle cores left is bound by its one
  // JavaScript thread; no idle cores left, by the machine (docs/performance.md, Session 17).
  const cpu = (r.cpuByPhase ?? {}) as Record<string, CpuShares | undefined>;
  if (Object.keys(cpu).length > 0) lines.push('', '== CPU by process during each phase (cores)', ...Object.entries(cpu).map(([phase, shares]) => `  ${phase.padEnd(22)} ${describeShares(shares)}`));
  const notDone = r.incomplete as { phase: string; reason: string }[] | undefined;
  if (notDone && notDone.length > 0) lines.push('', '== phases that did not complete', ...notDone.map((x) => `  ${x.phase}: ${x.reason}`));
  const inc = r.incrementalSnapshot as { rows: number; rowsPerSecond: number; seconds: number; latencyDuring: { achievedTxPerSecond: number; targets: Record<string, { p50ms: number; p99ms: number }> } } | undefined;
  if (inc) {
    lines.push(
      `incremental snapshot of ${inc.rows} rows   ${inc.rowsPerSecond.toFixed(0).padStart(8)} rows/s     (${inc.seconds.toFixed(2)} s) while ${inc.latencyDuring.achievedTxPerSecond.toFixed(0)} tx/s streamed; latency during it vs without:`,
      ...Object.entries(inc.latencyDuring.targets).map(([k, v]) => `  ${k.padEnd(12)} p50 ${v.p50ms.toFixed(1)} ms  p99 ${v.p99ms.toFixed(1)} ms   (without: p50 ${lat.targets[k]?.p50ms.toFixed(1)} ms, p99 ${lat.targets[k]?.p99ms.toFixed(1)} ms)`),
    );
  }
  const c = r.compareDebezium as { source: { walrelay: PhaseResult[]; debezium: PhaseResult[] }; sink: { walrelay: PhaseResult[]; debezium: PhaseResult[] }; setup: string } | undefined;
  if (c) {
    const mean = (xs: PhaseResult[], f: (x: PhaseResult) => number): number => xs.reduce((a, x) => a + f(x), 0) / Math.max(1, xs.length);
    const row = (what: string, w: PhaseResult[], d: PhaseResult[]): string[] => [
      `${what}`,
      `  rate          walrelay ${w.map((x) => x.perSecond.toFixed(0)).join(' / ')}   Debezium ${d.map((x) => x.perSecond.toFixed(0)).join(' / ')}   walrelay/Debezium ${(mean(w, (x) => x.perSecond) / mean(d, (x) => x.perSecond)).toFixed(2)}×`,
      `  CPU s/100k    walrelay ${w.map((x) => x.cpuSecondsPer100k.toFixed(1)).join(' / ')}   Debezium ${d.map((x) => x.cpuSecondsPer100k.toFixed(1)).join(' / ')}   Debezium/walrelay ${(mean(d, (x) => x.cpuSecondsPer100k) / mean(w, (x) => x.cpuSecondsPer100k)).toFixed(2)}×`,
      `  peak RSS MB   walrelay ${w.map((x) => x.peakRssMB).join(' / ')}   Debezium (Connect worker) ${d.map((x) => x.peakRssMB).join(' / ')}`,
    ];
    lines.push('', '== side by side with Debezium (interleaved: walrelay, Debezium, walrelay, Debezium)', ...row('source catch-up (changes/s)', c.source.walrelay, c.source.debezium), ...row("sink replay of Debezium's topic into MariaDB (rows/s)", c.sink.walrelay, c.sink.debezium), `setup: ${c.setup}`);
  }
  console.log(lines.join('\n'));
}

function svgChart(title: string, lines: { name: string; points: [number, number][] }[], xLabel: string, yLabel: string, logY = false): string {
  const W = 900;
  const H = 320;
  const L = 70;
  const R = 220;
  const TOP = 30;
  const B = 40;
  const all = lines.flatMap((l) => l.points).filter(([, y]) => Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const yMaxRaw = Math.max(1, ...all.map(([, y]) => y));
  const tf = (y: number): number => (logY ? Math.log10(Math.max(1, y)) : y);
  const yMax = tf(yMaxRaw) * 1.05;
  const X = (x: number): number => L + (x / xMax) * (W - L - R);
  const Y = (y: number): number => H - B - (tf(y) / yMax) * (H - TOP - B);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  const ticks = logY ? [1, 10, 100, 1000, 10000].filter((t) => tf(t) <= yMax) : [0, 0.25, 0.5, 0.75, 1].map((f) => (f * yMax));
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`;
  s += `<text x="${L}" y="18" font-size="14" font-weight="bold">${title}</text>`;
  s += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${TOP}" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  for (const t of ticks) {
    const y = logY ? Y(t) : H - B - (t / yMax) * (H - TOP - B);
    s += `<line x1="${L - 4}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/><text x="${L - 6}" y="${y + 4}" text-anchor="end">${Math.round(t)}</text>`;
  }
  for (let i = 0; i <= 5; i++) {
    const x = (i / 5) * xMax;
    s += `<text x="${X(x)}" y="${H - B + 15}" text-anchor="middle">${x.toFixed(1)}</text>`;
  }
  s += `<text x="${(L + W - R) / 2}" y="${H - 5}" text-anchor="middle">${xLabel}</text><text x="14" y="${(TOP + H - B) / 2}" transform="rotate(-90 14 ${(TOP + H - B) / 2})" text-anchor="middle">${yLabel}${logY ? ' (log)' : ''}</text>`;
  lines.forEach((l, i) => {
    const pts = l.points.filter(([, y]) => Number.isFinite(y)).map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    s += `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5" points="${pts}"/>`;
    s += `<rect x="${W - R + 10}" y="${TOP + i * 18}" width="12" height="3" fill="${colors[i % colors.length]}"/><text x="${W - R + 28}" y="${TOP + i * 18 + 5}">${l.name}</text>`;
  });
  return `${s}</svg>`;
}

function html(r: Record<string, unknown>, plots: { throughput: { name: string; points: [number, number][] }[]; latency: { name: string; points: [number, number][] }[]; rss: { name: string; points: [number, number][] }[] }): string {
  const esc = (x: string): string => x.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html><html><head><meta charset="utf-8"><title>walrelay benchmark</title></head><body style="font-family:sans-serif">
<h1>walrelay benchmark</h1>
${svgChart('Throughput over time (each phase from its first change)', plots.throughput, 'seconds', 'changes or rows per second')}
${svgChart('End-to-end latency per second of the run (commit → visible in target)', plots.latency, 'seconds', 'ms', true)}
${svgChart('RSS during the throughput phases', plots.rss, 'seconds', 'MB')}
<h2>Results</h2><pre>${esc(JSON.stringify({ ...r, series: undefined }, null, 2))}</pre></body></html>`;
}

await main().catch((e: Error) => {
  console.error(`bench failed: ${e.stack ?? e}`);
  process.exitCode = 1;
});
// kafkajs leaves timers behind; everything is cleaned up by now.
process.exit(process.exitCode ?? 0);
