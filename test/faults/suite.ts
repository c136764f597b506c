import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { avroType, decodeAvro, SchemaRegistryClient, TRUNCATE_HEADER, unframe } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { MYSQL_URL, REGISTRY_URL } from '../support/env.js';
import { testKafka } from '../support/kafka.js';
import { pgConnect } from '../support/postgres.js';
import { ROOT, type RunningProcess } from '../support/processes.js';
import { rng, Workload, workloadDdl, WORKLOAD_TABLES } from '../workload/workload.js';
import { checkTarget, formatReport, type Target, type TargetReport } from '../workload/check.js';

const run = promisify(execFile);

/**
 * The fault suite: a seeded workload runs through source → Kafka → SQLite and MySQL sinks
 * while processes are killed and services restarted; afterwards every target must equal
 * PostgreSQL and the audit table must show no gap and no duplicate (in both targets and in
 * the audit topic itself, which shows a duplicate the source would have produced even where
 * an upsert hides it).
 */

export interface FaultOptions {
  changes: number;
  /** kill -9 of each process (source, SQLite sink, MySQL sink). */
  kills: number;
  brokerRestarts: number;
  pgRestarts: number;
  mariadbRestarts: number;
  /** Second sink joins the group and leaves, per sink kind. */
  rebalances: number;
  /** Seconds between two injected faults. */
  gapSeconds: number;
  seed: number;
  /** Seconds to wait for the targets to catch up after the workload. */
  settleSeconds: number;
  keep: boolean;
  /** Size of the TOASTed values of `wide`. */
  toastBytes: number;
  /**
   * Rows of `late`, a table that joins the publication mid-run (incremental snapshot, the source
   * killed with SIGKILL while it runs, rows changed meanwhile); `narrow` also gains a column with
   * a default mid-run (the table is read again). 0 leaves the table-lifecycle events out.
   */
  lateTableRows: number;
  /** Aborting stops the faults and the workload early; the targets are still checked. */
  signal?: AbortSignal;
  log: (line: string) => void;
}

export const SHORT: Omit<FaultOptions, 'log'> = {
  changes: 5_000,
  kills: 2,
  brokerRestarts: 1,
  pgRestarts: 1,
  mariadbRestarts: 1,
  rebalances: 1,
  gapSeconds: 7,
  seed: 42,
  settleSeconds: 120,
  keep: false,
  toastBytes: 64_000,
  lateTableRows: 3_000,
};

export const FULL: Omit<FaultOptions, 'log'> = {
  changes: 1_000_000,
  kills: 20,
  brokerRestarts: 3,
  pgRestarts: 2,
  mariadbRestarts: 2,
  rebalances: 3,
  gapSeconds: 8,
  seed: 42,
  settleSeconds: 900,
  keep: false,
  toastBytes: 16_000,
  lateTableRows: 50_000,
};

type Role = 'source' | 'sink-sqlite' | 'sink-mysql';
type FaultKind = `kill ${Role}` | 'restart kafka' | 'restart postgresql' | 'restart mariadb' | 'rebalance sink-sqlite' | 'rebalance sink-mysql' | 'drop slot';

export interface Injection {
  readonly at: number;
  readonly fault: string;
  readonly detail: string;
  readonly seconds: number;
}

export interface FaultResult {
  readonly ok: boolean;
  readonly injections: readonly Injection[];
  readonly unexpectedExits: readonly string[];
  readonly reports: readonly TargetReport[];
  readonly topicAudit: { records: number; distinct: number; duplicates: number; missing: number; snapshotRecords: number; ok: boolean; firstProblems: string[] };
  readonly workload: Workload['stats'];
  readonly seconds: number;
  readonly interrupted: boolean;
}

async function sh(cmd: string, args: string[], timeoutMs = 240_000): Promise<string> {
  const r = await run(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024 });
  return `${r.stdout}${r.stderr}`;
}

async function waitPort(check: () => Promise<unknown>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what} did not come back: ${(e as Error).message}`);
      await sleep(300);
    }
  }
}

/** The machine's PostgreSQL cluster version (the newest under /etc/postgresql). */
function pgVersion(): string {
  const dirs = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  return process.env.WALRELAY_PG_CLUSTER_VERSION ?? dirs.sort((x, y) => Number(x) - Number(y)).at(-1) ?? '15';
}

export async function runFaultSuite(o: FaultOptions): Promise<FaultResult> {
  const t0 = Date.now();
  const since = (): string => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const log = (line: string): void => o.log(`[faults ${since()}] ${line}`);
  const p = new TestPipeline('faults');
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-faults-'));
  const sqliteFile = path.join(dir, 'target.sqlite');
  const mysqlDb = `walrelay_${p.id}`.slice(0, 64);
  const mysqlUrl = MYSQL_URL.replace(/\/[^/]*$/, `/${mysqlDb}`);
  const targets: Target[] = [
    { kind: 'sqlite', file: sqliteFile },
    { kind: 'mysql', url: mysqlUrl },
  ];
  const injections: Injection[] = [];
  const unexpectedExits: string[] = [];
  const procs = new Map<string, RunningProcess>();
  const expectedExit = new Set<RunningProcess>();
  let stopping = false;
  let injectionFailures = 0;

  const start = (role: Role, name: string = role): RunningProcess => {
    let proc: RunningProcess;
    // Small chunks: the lifecycle's kill lands inside the incremental snapshot of `late`.
    // onSlotLost resync: the lifecycle drops the slot once (a lost slot, followed exactly).
    if (role === 'source') proc = p.startSource({ WALRELAY_SNAPSHOT_CHUNK_SIZE: '250', WALRELAY_ON_SLOT_LOST: 'resync' }, name);
    else {
      const kind = role;
      const url = kind === 'sink-sqlite' ? sqliteFile : mysqlUrl;
      proc = p.startSink(kind, url, { WALRELAY_GROUP_ID: `${p.id}_${kind}` }, name);
    }
    procs.set(name, proc);
    // A supervisor's job: a process that exits on its own is noted and restarted.
    void proc.exited.then(async (code) => {
      if (stopping || expectedExit.has(proc)) return;
      const tail = proc.output().split('\n').filter((l) => /"level":("error"|"fatal"|50|60)\b/.test(l)).slice(-2).join(' | ').slice(0, 600);
      const note = `${since()} ${name} (pid ${proc.child.pid}) exited on its own with code ${code}; log ${proc.logFile}; last errors: ${tail}`;
      unexpectedExits.push(note);
      log(`UNEXPECTED EXIT: ${note}`);
      await sleep(1000);
      if (!stopping && procs.get(name) === proc) start(role, name);
    });
    return proc;
  };

  // One fault at a time: the lifecycle events inject a kill of their own.
  let injecting: Promise<unknown> = Promise.resolve();
  const inject = (fault: FaultKind, label?: string): Promise<void> => {
    const next = injecting.then(() => injectNow(fault, label));
    injecting = next.catch(() => undefined);
    return next;
  };
  const injectNow = async (fault: FaultKind, label?: string): Promise<void> => {
    const at = (Date.now() - t0) / 1000;
    const f0 = Date.now();
    let detail = '';
    if (fault.startsWith('kill ')) {
      const role = fault.slice(5) as Role;
      const proc = procs.get(role)!;
      expectedExit.add(proc);
      detail = `pid ${proc.child.pid}`;
      proc.kill('SIGKILL');
      await proc.exited;
      await sleep(300 + Math.floor(rand() * 1500));
      const next = start(role);
      detail += ` → restarted as pid ${next.child.pid}`;
    } else if (fault === 'drop slot') {
      // The source goes down, its slot is dropped, the workload goes on for a while with no
      // slot (those changes reach no WAL reader), and the source comes back: onSlotLost resync.
      const proc = procs.get('source')!;
      expectedExit.add(proc);
      proc.kill('SIGKILL');
      await proc.exited;
      for (let i = 0; ; i++) {
        try {
          // The walsender lets go of the slot once it notices its client is gone.
          await p.db.query('SELECT pg_drop_replication_slot($1)', [p.slot]);
          break;
        } catch (e) {
          if (i > 240) throw e;
          await sleep(250);
        }
      }
      await sleep(3000);
      const next = start('source');
      detail = `pid ${proc.child.pid} killed, slot ${p.slot} dropped, 3 s without a slot → restarted as pid ${next.child.pid}`;
    } else if (fault === 'restart kafka') {
      const pidFile = path.join(ROOT, '.services/kafka/kafka.pid');
      if (!existsSync(pidFile)) throw new Error('Kafka was not started from this checkout (no .services/kafka/kafka.pid): services.sh cannot restart it');
      const before = readFileSync(pidFile, 'utf8').trim();
      await sh('bash', ['scripts/services.sh', 'down', 'kafka']);
      await sh('bash', ['scripts/services.sh', 'up', 'kafka']);
      detail = `broker pid ${before} → ${readFileSync(pidFile, 'utf8').trim()} (services.sh down kafka; up kafka)`;
    } else if (fault === 'restart postgresql') {
      // Fast shutdown waits for every walsender to send what it has decoded; one busy with a
      // huge transaction (anyone's slot) can outlast pg_ctl's wait, and pg_ctl then gives up
      // between stop and start. Allow 5 minutes and make sure the cluster is started again.
      const v = pgVersion();
      try {
        await sh('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'restart', '-m', 'fast', '--', '-t', '300'], 400_000);
      } catch (e) {
        log(`pg_ctlcluster restart failed (${(e as Error).message.split('\n').slice(-2).join(' ').trim()}); waiting for the shutdown to finish, then starting the cluster`);
        const downBy = Date.now() + 300_000;
        while (Date.now() < downBy && (await sh('pg_ctlcluster', [v, 'main', 'status']).then(() => true, () => false))) await sleep(1000);
        await sh('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'start']).catch((err: Error) => log(`pg_ctlcluster start: ${err.message}`));
      }
      await waitPort(async () => {
        const c = await pgConnect();
        await c.end();
      }, 'PostgreSQL');
      // The harness's own connection went down with the server: replace it.
      const old = p.db;
      p.db = await pgConnect();
      p.db.on('error', () => undefined);
      await old.end().catch(() => undefined);
      detail = `pg_ctlcluster ${v} main restart -m fast`;
    } else if (fault === 'restart mariadb') {
      await sh('mysqladmin', ['-uroot', 'shutdown']);
      await sh('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd']);
      await waitPort(async () => {
        const c = await mysql.createConnection({ uri: mysqlUrl });
        await c.end();
      }, 'MariaDB');
      detail = 'mysqladmin shutdown; start-stop-daemon --start mariadbd';
    } else if (fault.startsWith('rebalance ')) {
      const role = fault.slice(10) as Role;
      const extra = start(role, `${role}-2`);
      // Stop it only once it has joined the group (a SIGTERM during start-up proves nothing).
      const joinBy = Date.now() + 60_000;
      while (!extra.output().includes('partitions assigned') && extra.child.exitCode === null && Date.now() < joinBy) await sleep(200);
      await sleep(2000 + Math.floor(rand() * 3000));
      expectedExit.add(extra);
      const code = await extra.stop(30_000);
      procs.delete(`${role}-2`);
      detail = `second ${role} pid ${extra.child.pid} joined the group, stopped with SIGTERM (exit ${code})`;
      if (code !== 0) unexpectedExits.push(`${since()} second ${role} exited ${code} on SIGTERM; log ${extra.logFile}`);
    }
    const seconds = (Date.now() - f0) / 1000;
    injections.push({ at, fault: label ?? fault, detail, seconds });
    log(`injected: ${label ?? fault} (${detail}) in ${seconds.toFixed(1)}s`);
  };

  /**
   * The table lifecycle under faults: at a quarter of the workload `late` joins the publication
   * (its rows must arrive through an incremental snapshot while streaming goes on); once the
   * source logs the snapshot's first chunk it is killed with SIGKILL (the snapshot resumes from
   * its checkpoint); `late` is updated, deleted from and inserted into until the workload ends;
   * at half of the workload `narrow` gains a column with a default (its existing rows must get
   * it: the table is read again); at 60% `late` renames a column, at 70% widens `v` to int8 and
   * writes values above 2^31 into it; at 80% the slot is dropped with the source down and the
   * workload going on (onSlotLost: resync truncates and re-reads every table).
   */
  const lifecycleEvents = async (w: Workload, done: Promise<unknown>): Promise<void> => {
    let finished = false;
    void done.finally(() => (finished = true));
    const q = (n: string): string => `"${n.replace(/"/g, '""')}"`;
    const sql = async (text: string): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          await p.db.query(text);
          return;
        } catch (e) {
          // PostgreSQL restarts are injected: retry on the harness's replaced connection.
          if (i > 100 || finished) throw e;
          await sleep(500);
        }
      }
    };
    const at = async (fraction: number): Promise<void> => {
      while (!finished && w.stats.changes < o.changes * fraction) await sleep(200);
    };
    await at(0.25);
    if (finished) return;
    await sql(`ALTER PUBLICATION ${q(p.publication)} ADD TABLE ${q(p.schema)}.late`);
    log('lifecycle: table late joined the publication');
    // The column churn writes: `note`, until the lifecycle renames it.
    let noteColumn = 'note';
    const churn = (async () => {
      const r = rng(o.seed ^ 0x1a7e);
      let next = o.lateTableRows + 1;
      while (!finished) {
        const id = 1 + Math.floor(r() * (next - 1));
        const pick = r();
        const stmt =
          pick < 0.7
            ? `UPDATE ${q(p.schema)}.late SET v = v + 1, ${q(noteColumn)} = 'changed' WHERE id BETWEEN ${id} AND ${id + 20}`
            : pick < 0.85
              ? `DELETE FROM ${q(p.schema)}.late WHERE id BETWEEN ${id} AND ${id + 3}`
              : `INSERT INTO ${q(p.schema)}.late VALUES (${next++}, 1, 'inserted after it joined')`;
        await sql(stmt).catch((e: Error) => log(`lifecycle: late churn statement failed: ${e.message}`));
        await sleep(50);
      }
    })();
    // Kill the source while it reads the table's chunks.
    const killBy = Date.now() + 120_000;
    const reading = (): boolean => (procs.get('source')?.output() ?? '').split('\n').some((l) => l.includes('reading from the first key') && l.includes('.late'));
    while (!finished && Date.now() < killBy && !reading()) await sleep(100);
    if (!finished) {
      await sleep(150);
      await inject('kill source', 'kill source (during the incremental snapshot of late)').catch((e: Error) => {
        unexpectedExits.push(`${since()} lifecycle kill failed: ${e.message}`);
        injectionFailures++;
      });
    }
    await at(0.5);
    if (!finished) {
      await sql(`ALTER TABLE ${q(p.schema)}.narrow ADD COLUMN tag text NOT NULL DEFAULT 'seeded'`);
      log("lifecycle: narrow gained column tag with DEFAULT 'seeded'");
    }
    // DDL the targets follow while the faults go on: a rename (the target column keeps its data)
    // and a widening with values above 2^31 (the target column is widened before they arrive).
    await at(0.6);
    if (!finished) {
      await sql(`ALTER TABLE ${q(p.schema)}.late RENAME COLUMN note TO remark`);
      noteColumn = 'remark';
      log('lifecycle: late renamed column note to remark');
    }
    await at(0.7);
    if (!finished) {
      await sql(`ALTER TABLE ${q(p.schema)}.late ALTER COLUMN v TYPE int8`);
      await sql(`UPDATE ${q(p.schema)}.late SET v = v + 3000000000 WHERE id % 7 = 0`);
      log('lifecycle: late widened v to int8 and 1 row in 7 went above 2^31');
    }
    // A lost slot, resynced: every table truncated in the targets and read again.
    await at(0.8);
    if (!finished) {
      await inject('drop slot', 'drop the slot (onSlotLost: resync)').catch((e: Error) => {
        unexpectedExits.push(`${since()} lifecycle slot drop failed: ${e.message}`);
        injectionFailures++;
      });
    }
    await churn;
  };

  const rand = rng(o.seed ^ 0x5eed);
  const faults: FaultKind[] = [];
  for (let i = 0; i < o.kills; i++) faults.push('kill source', 'kill sink-sqlite', 'kill sink-mysql');
  for (let i = 0; i < o.brokerRestarts; i++) faults.push('restart kafka');
  for (let i = 0; i < o.pgRestarts; i++) faults.push('restart postgresql');
  for (let i = 0; i < o.mariadbRestarts; i++) faults.push('restart mariadb');
  for (let i = 0; i < o.rebalances; i++) faults.push('rebalance sink-sqlite', 'rebalance sink-mysql');
  for (let i = faults.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [faults[i], faults[j]] = [faults[j]!, faults[i]!];
  }

  let result: FaultResult | undefined;
  let workload: Workload | undefined;
  try {
    log(`pipeline ${p.id}: schema ${p.schema}, slot ${p.slot}, prefix ${p.prefix}; targets ${sqliteFile} and ${mysqlUrl}`);
    const lateRows = o.lateTableRows;
    await p.setup((sch) => [
      ...workloadDdl(sch),
      ...(lateRows > 0
        ? [
            `CREATE TABLE ${sch}.late (id int8 PRIMARY KEY, v int4 NOT NULL, note text)`,
            `INSERT INTO ${sch}.late SELECT g, 0, 'before it joined ' || g FROM generate_series(1, ${lateRows}) g`,
          ]
        : []),
    ]);
    p.db.on('error', () => undefined); // PostgreSQL restarts are injected; the connection is replaced then
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${mysqlDb}\``);
    await admin.end();
    p.capture(...WORKLOAD_TABLES);
    start('source');
    start('sink-sqlite');
    start('sink-mysql');
    await waitForSlot(p);
    // Pace the workload to span the fault schedule (gap + a typical duration of each fault).
    const typical: Record<string, number> = { 'restart kafka': 8, 'restart postgresql': 4, 'restart mariadb': 5, 'rebalance sink-sqlite': 8, 'rebalance sink-mysql': 15 };
    const duration = Math.max(10, faults.reduce((sum, f) => sum + o.gapSeconds + (typical[f] ?? 1.5), 0));
    const rate = Math.ceil(o.changes / duration);
    workload = new Workload(p.schema, { changes: o.changes, seed: o.seed, rate, toastBytes: o.toastBytes, log });
    log(`workload: ${o.changes} row changes at up to ${rate}/s (~${duration}s), seed ${o.seed}; ${faults.length} faults every ${o.gapSeconds}s: ${faults.join(', ')}`);
    const wl = workload.run();
    const lifecycle = lateRows > 0 ? lifecycleEvents(workload, wl) : Promise.resolve();
    for (const f of faults) {
      if (o.signal?.aborted) break;
      await sleep(o.gapSeconds * 1000);
      log(`workload progress: ${workload.stats.changes}/${o.changes} changes, ${workload.stats.transactions} transactions`);
      try {
        await inject(f);
      } catch (e) {
        const note = `${since()} injecting "${f}" failed: ${(e as Error).message.split('\n')[0]}`;
        unexpectedExits.push(note);
        injectionFailures++;
        log(note);
      }
    }
    const onAbort = (): void => workload?.stop();
    o.signal?.addEventListener('abort', onAbort);
    if (o.signal?.aborted) onAbort();
    const stats = await wl;
    await lifecycle;
    if (o.signal?.aborted) log(`interrupted: workload stopped after ${stats.changes} of ${o.changes} changes, ${injections.length} of ${faults.length} faults; checking what was written`);
    log(`workload done: ${JSON.stringify(stats)}`);

    // Settle: every target equal, or time out and report the differences.
    const db = await pgConnect();
    db.on('error', () => undefined);
    let reports: TargetReport[] = [];
    const deadline = Date.now() + o.settleSeconds * 1000;
    for (;;) {
      reports = [];
      for (const t of targets) reports.push(await checkTarget(db, p.schema, lateRows > 0 ? [...WORKLOAD_TABLES, 'late'] : WORKLOAD_TABLES, t));
      if (reports.every((r) => r.ok) || Date.now() > deadline) break;
      await sleep(2000);
    }
    log(`targets ${reports.every((r) => r.ok) ? 'caught up' : 'did NOT catch up'} ${since()}`);
    const topicAudit = await checkAuditTopic(`${p.prefix}.${p.schema}.audit`, reports[0]?.audit.sourceCount ?? 0);
    await db.end();
    // Every process rides out every fault: one that exits on its own is a bug even when the
    // supervisor's restart leaves the targets exact.
    const ok = reports.every((r) => r.ok) && topicAudit.ok && injectionFailures === 0 && unexpectedExits.length === 0;
    result = { ok, injections, unexpectedExits, reports, topicAudit, workload: stats, seconds: (Date.now() - t0) / 1000, interrupted: o.signal?.aborted ?? false };
    return result;
  } finally {
    stopping = true;
    workload?.stop();
    await Promise.all([...procs.values()].map((x) => x.stop(15_000)));
    if (!o.keep || result?.ok) {
      // A fresh connection: the harness's may have died with an injected restart.
      const old = p.db;
      try {
        p.db = await pgConnect();
        p.db.on('error', () => undefined);
      } catch (e) {
        log(`cleanup: PostgreSQL unreachable (${(e as Error).message}); drop slot ${p.slot} by hand`);
      }
      await old?.end().catch(() => undefined);
      await p.cleanup().catch((e: Error) => log(`cleanup: ${e.message}`));
      const admin = await mysql.createConnection({ uri: MYSQL_URL }).catch(() => undefined);
      await admin?.query(`DROP DATABASE IF EXISTS \`${mysqlDb}\``).catch(() => undefined);
      await admin?.end();
      const kafkaAdmin = testKafka().admin();
      await kafkaAdmin.connect().catch(() => undefined);
      const topics = (await kafkaAdmin.listTopics().catch(() => [] as string[])).filter((t) => t.startsWith(`${p.prefix}.`) || t.startsWith(`${p.prefix}_`) || t === p.prefix);
      if (topics.length > 0) await kafkaAdmin.deleteTopics({ topics }).catch(() => undefined);
      await kafkaAdmin.disconnect().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    } else {
      log(`kept for inspection: PostgreSQL schema ${p.schema}, slot ${p.slot}, MySQL ${mysqlDb}, SQLite ${sqliteFile}, topics ${p.prefix}.*`);
      await p.db?.end().catch(() => undefined);
    }
  }
}

async function waitForSlot(p: TestPipeline): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const r = await p.db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
    if (r.rows[0]?.active) return;
    if (Date.now() > deadline) throw new Error(`slot ${p.slot} was not created/active within 90 s; source log: ${p.processes[0]?.logFile}`);
    await sleep(250);
  }
}

/**
 * Reads the audit topic (read_committed) and counts each audit id: exactly one change record
 * each, ids 1..expected. After a resync (a lost slot), rows written while the slot was gone
 * arrive only as snapshot records (op r) of the table read again: an id counts as present when
 * it has a change record or a snapshot record, and a duplicate is a second change record.
 */
export async function checkAuditTopic(topic: string, expected: number): Promise<FaultResult['topicAudit']> {
  const kafka = testKafka();
  const registry = new SchemaRegistryClient({ url: REGISTRY_URL });
  const consumer = kafka.consumer({ groupId: `walrelay-faults-audit-${Date.now()}-${Math.random().toString(36).slice(2)}`, readUncommitted: false, allowAutoTopicCreation: false, maxBytes: 20 * 1024 * 1024 });
  const counts = new Uint8Array(expected + 2);
  const snapshotted = new Uint8Array(expected + 2);
  let snapshotRecords = 0;
  let records = 0;
  let outOfRange = 0;
  let lastAt = Date.now();
  const types = new Map<number, ReturnType<typeof avroType>>();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        if (!m.value || m.value.length === 0 || !m.key) continue;
        if (m.headers?.[TRUNCATE_HEADER] !== undefined) continue; // a resync's truncate marker
        const typeOf = async (id: number) => {
          let t = types.get(id);
          if (!t) {
            t = avroType(await registry.schemaById(id));
            types.set(id, t);
          }
          return t;
        };
        const k = unframe(m.key);
        const key = decodeAvro(await typeOf(k.schemaId), k.payload) as { id: bigint | number };
        const v = unframe(m.value);
        const op = (decodeAvro(await typeOf(v.schemaId), v.payload) as { op: string }).op;
        const id = Number(key.id);
        if (op === 'r') {
          snapshotRecords++;
          if (id >= 1 && id <= expected) snapshotted[id] = 1;
          continue;
        }
        records++;
        if (id >= 1 && id <= expected) counts[id] = Math.min(255, (counts[id] ?? 0) + 1);
        else outOfRange++;
      }
      lastAt = Date.now();
    },
  });
  const deadline = Date.now() + Math.max(60_000, expected / 5);
  while (Date.now() < deadline) {
    if (records + snapshotRecords >= expected && Date.now() - lastAt > 3000) break;
    if (records + snapshotRecords < expected && Date.now() - lastAt > 30_000 && records > 0) break;
    await sleep(250);
  }
  await consumer.disconnect();
  registry.close();
  let distinct = 0;
  let duplicates = 0;
  let missing = 0;
  const firstProblems: string[] = [];
  for (let i = 1; i <= expected; i++) {
    const c = counts[i]!;
    if (c >= 1 || snapshotted[i]) distinct++;
    if (c > 1) {
      duplicates += c - 1;
      if (firstProblems.length < 5) firstProblems.push(`id ${i} ×${c}`);
    }
    if (c === 0 && !snapshotted[i]) {
      missing++;
      if (firstProblems.length < 5) firstProblems.push(`id ${i} missing`);
    }
  }
  if (outOfRange > 0) firstProblems.push(`${outOfRange} records with ids outside 1..${expected}`);
  return {
    records,
    distinct,
    duplicates,
    missing,
    snapshotRecords,
    ok: duplicates === 0 && missing === 0 && outOfRange === 0 && (snapshotRecords > 0 || records === expected),
    firstProblems,
  };
}

export function formatResult(r: FaultResult): string {
  const lines: string[] = [];
  lines.push(`== injected (${r.injections.length}):`);
  for (const i of r.injections) lines.push(`  +${i.at.toFixed(1)}s  ${i.fault.padEnd(22)} ${i.detail} (${i.seconds.toFixed(1)}s)`);
  const counts: Record<string, number> = {};
  for (const i of r.injections) counts[i.fault] = (counts[i.fault] ?? 0) + 1;
  lines.push(`  totals: ${Object.entries(counts).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  lines.push(`== workload: ${r.workload.changes} row changes in ${r.workload.transactions} transactions (${r.workload.failedTransactions} failed and retried by a fault), ${r.workload.largeTransactions} large, schema change ${r.workload.schemaChanged ? 'yes' : 'no'}; by op ${JSON.stringify(r.workload.byOp)}; ${r.workload.auditRows} audit rows`);
  lines.push(`== processes that exited on their own: ${r.unexpectedExits.length === 0 ? 'none' : ''}`);
  for (const u of r.unexpectedExits) lines.push(`  ${u}`);
  lines.push('== checked:');
  for (const rep of r.reports) lines.push(formatReport(rep).replace(/^/gm, '  '));
  const a = r.topicAudit;
  lines.push(
    `  audit topic (read_committed): ${a.records} change records, ${a.distinct} distinct ids, ${a.duplicates} duplicates, ${a.missing} missing` +
      `${a.snapshotRecords > 0 ? `, ${a.snapshotRecords} snapshot records of the resync` : ''}${a.firstProblems.length ? `: ${a.firstProblems.join(', ')}` : ''}`,
  );
  lines.push(`== ${r.ok ? 'PASS' : 'FAIL'} in ${r.seconds.toFixed(0)}s${r.interrupted ? ' (interrupted early: fewer changes and faults than asked for)' : ''}`);
  return lines.join('\n');
}
