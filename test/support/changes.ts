import type pg from 'pg';
import type { ChangeEnvelope } from '@walrelay/core';
import { q } from './postgres.js';
import type { ReadRecord } from './kafka.js';
import type { RunningProcess } from './processes.js';

/**
 * Helpers of the source's fault tests: a seeded workload generator that knows what
 * every transaction changes, and a strict replay of a topic that finds duplicated,
 * lost and reordered changes.
 */

/** mulberry32: small, seedable, good enough for test workloads. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type ChangeOp = 'c' | 'u' | 'd';
export type OpCounts = Record<ChangeOp, number>;

export interface Statement {
  readonly sql: string;
  readonly params: unknown[];
  /** Rows the statement must touch (the planner's model of the table). */
  readonly rows: number;
}

export interface PlannedTx {
  readonly statements: Statement[];
  /** Row changes of the transaction (a key change counts once here). */
  readonly changes: number;
  readonly big: boolean;
}

/** Live keys of one table with their `v`, and a random pick in O(1). */
class LiveRows {
  readonly v = new Map<number, number>();
  readonly #ids: number[] = [];
  readonly #index = new Map<number, number>();

  get size(): number {
    return this.#ids.length;
  }

  set(id: number, v: number): void {
    if (!this.#index.has(id)) {
      this.#index.set(id, this.#ids.length);
      this.#ids.push(id);
    }
    this.v.set(id, v);
  }

  delete(id: number): void {
    const i = this.#index.get(id);
    if (i === undefined) throw new Error(`planner: ${id} is not live`);
    const last = this.#ids.pop() as number;
    if (last !== id) {
      this.#ids[i] = last;
      this.#index.set(last, i);
    }
    this.#index.delete(id);
    this.v.delete(id);
  }

  pick(rnd: () => number): number {
    return this.#ids[Math.floor(rnd() * this.#ids.length)] as number;
  }
}

/**
 * Plans a workload over tables `(id int8 PRIMARY KEY, v int8 NOT NULL)`: every
 * update adds 1 to `v` (so a replay can tell a lost or repeated update), inserts
 * start at v = 0, new ids are never reused. The plan is computed up front, so the
 * expected changes per table are known before anything runs.
 */
export class WorkloadPlanner {
  readonly tables: Record<string, LiveRows> = {};
  readonly expected: Record<string, OpCounts> = {};
  readonly transactions: PlannedTx[] = [];
  readonly #rnd: () => number;
  readonly #schema: string;
  #nextId = 1;

  constructor(seed: number, schema: string, tables: readonly string[]) {
    this.#rnd = seededRandom(seed);
    this.#schema = schema;
    for (const t of tables) {
      this.tables[t] = new LiveRows();
      this.expected[t] = { c: 0, u: 0, d: 0 };
    }
  }

  get names(): string[] {
    return Object.keys(this.tables);
  }

  #t(table: string): string {
    return `${q(this.#schema)}.${q(table)}`;
  }

  #table(): string {
    const names = this.names;
    return names[Math.floor(this.#rnd() * names.length)] as string;
  }

  /** Rows that exist before the source starts (they arrive as op r). */
  initialRows(table: string, n: number): Statement {
    const lo = this.#nextId;
    this.#nextId += n;
    for (let id = lo; id < lo + n; id++) this.tables[table]!.set(id, 0);
    return { sql: `INSERT INTO ${this.#t(table)} (id, v) SELECT g, 0 FROM generate_series($1::int8, $2::int8) g`, params: [lo, lo + n - 1], rows: n };
  }

  /** 1..maxOps single-row statements: insert, update, delete, key change. */
  small(maxOps = 20): PlannedTx {
    const statements: Statement[] = [];
    const n = 1 + Math.floor(this.#rnd() * maxOps);
    let changes = 0;
    for (let i = 0; i < n; i++) {
      const table = this.#table();
      const live = this.tables[table]!;
      const exp = this.expected[table]!;
      const r = this.#rnd();
      if (r < 0.35 || live.size < 10) {
        const id = this.#nextId++;
        live.set(id, 0);
        exp.c++;
        statements.push({ sql: `INSERT INTO ${this.#t(table)} (id, v) VALUES ($1, 0)`, params: [id], rows: 1 });
      } else if (r < 0.75) {
        const id = live.pick(this.#rnd);
        live.set(id, live.v.get(id)! + 1);
        exp.u++;
        statements.push({ sql: `UPDATE ${this.#t(table)} SET v = v + 1 WHERE id = $1`, params: [id], rows: 1 });
      } else if (r < 0.92) {
        const id = live.pick(this.#rnd);
        live.delete(id);
        exp.d++;
        statements.push({ sql: `DELETE FROM ${this.#t(table)} WHERE id = $1`, params: [id], rows: 1 });
      } else {
        // Key change: a delete of the old key and a create of the new one.
        const id = live.pick(this.#rnd);
        const v = live.v.get(id)! + 1;
        const to = this.#nextId++;
        live.delete(id);
        live.set(to, v);
        exp.d++;
        exp.c++;
        statements.push({ sql: `UPDATE ${this.#t(table)} SET id = $2, v = v + 1 WHERE id = $1`, params: [id, to], rows: 1 });
      }
      changes++;
    }
    return this.#push({ statements, changes, big: false });
  }

  /** The next id a bulk insert would start at. */
  get nextId(): number {
    return this.#nextId;
  }

  /** A range insert of n new rows. */
  bulkInsert(table: string, n: number): Statement {
    const lo = this.#nextId;
    this.#nextId += n;
    for (let id = lo; id < lo + n; id++) this.tables[table]!.set(id, 0);
    this.expected[table]!.c += n;
    return { sql: `INSERT INTO ${this.#t(table)} (id, v) SELECT g, 0 FROM generate_series($1::int8, $2::int8) g`, params: [lo, lo + n - 1], rows: n };
  }

  /** Updates (or deletes) every live row of a random id range that spans about `span` ids. */
  bulkRange(table: string, span: number, kind: 'update' | 'delete', from?: number): Statement {
    const live = this.tables[table]!;
    const lo = from ?? (live.size > 0 ? live.pick(this.#rnd) : 1);
    const hi = lo + span - 1;
    let rows = 0;
    for (let id = lo; id <= hi; id++) {
      const v = live.v.get(id);
      if (v === undefined) continue;
      rows++;
      if (kind === 'update') live.set(id, v + 1);
      else live.delete(id);
    }
    this.expected[table]![kind === 'update' ? 'u' : 'd'] += rows;
    return kind === 'update'
      ? { sql: `UPDATE ${this.#t(table)} SET v = v + 1 WHERE id BETWEEN $1 AND $2`, params: [lo, hi], rows }
      : { sql: `DELETE FROM ${this.#t(table)} WHERE id BETWEEN $1 AND $2`, params: [lo, hi], rows };
  }

  /** 1..3 set-based statements of up to `maxRows` rows each. */
  medium(maxRows = 300): PlannedTx {
    const statements: Statement[] = [];
    const n = 1 + Math.floor(this.#rnd() * 3);
    for (let i = 0; i < n; i++) {
      const table = this.#table();
      const rows = 20 + Math.floor(this.#rnd() * (maxRows - 20));
      const r = this.#rnd();
      statements.push(r < 0.45 ? this.bulkInsert(table, rows) : r < 0.85 ? this.bulkRange(table, rows, 'update') : this.bulkRange(table, rows, 'delete'));
    }
    return this.#push({ statements, changes: statements.reduce((s, x) => s + x.rows, 0), big: false });
  }

  /** A transaction of several thousand changes, built from the given statements. */
  big(statements: Statement[]): PlannedTx {
    return this.#push({ statements, changes: statements.reduce((s, x) => s + x.rows, 0), big: true });
  }

  #push(tx: PlannedTx): PlannedTx {
    this.transactions.push(tx);
    return tx;
  }

  /** Records a topic must end up with: changes, plus a tombstone per delete. */
  expectedRecords(table: string): number {
    const e = this.expected[table]!;
    return e.c + e.u + e.d * 2;
  }

  get random(): () => number {
    return this.#rnd;
  }
}

/** Runs planned transactions in order on one connection; checks each statement touched the planned rows. */
export async function runTransactions(
  db: pg.Client,
  txs: readonly PlannedTx[],
  options: { onCommitted?: (index: number) => void; signal?: AbortSignal } = {},
): Promise<number> {
  let done = 0;
  for (let i = 0; i < txs.length; i++) {
    if (options.signal?.aborted) break;
    const tx = txs[i]!;
    await db.query('BEGIN');
    try {
      for (const s of tx.statements) {
        const res = await db.query(s.sql, s.params);
        if (res.rowCount !== s.rows) throw new Error(`workload: ${s.sql} ${JSON.stringify(s.params)} touched ${res.rowCount} rows, planned ${s.rows}`);
      }
      await db.query('COMMIT');
    } catch (e) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
    done++;
    options.onCommitted?.(i);
  }
  return done;
}

export interface ReplayOptions {
  /** A repeated `r` of a key overwrites instead of being an error (an interrupted snapshot was redone). */
  readonly allowRepeatedSnapshotReads?: boolean;
  /** Every update adds exactly 1 to `v`. */
  readonly updatesIncrementV?: boolean;
}

export interface ReplayResult {
  /** Final image per key (String(id)) → v as a string. */
  readonly state: Map<string, string>;
  readonly counts: Record<'r' | 'c' | 'u' | 'd' | 't' | 'tombstone', number>;
  /** Snapshot reads per key. */
  readonly reads: Map<string, number>;
  /** Partitions on which a truncate marker arrived (the replay stops applying there). */
  readonly truncatedPartitions: Set<number>;
  readonly errors: string[];
}

const keyOf = (r: ReadRecord): string => String((r.key as { id: bigint }).id);

/**
 * Replays a topic's records (in the order one read_committed consumer saw them;
 * per key that is partition order) and reports everything that cannot be the
 * result of each committed change arriving exactly once and in commit order:
 * an insert of a key that exists, an update or delete of a key that does not,
 * an update that does not add 1 to v, a (commit_lsn, tx_seq, op, key) seen twice,
 * a key whose changes are not in increasing (commit_lsn, tx_seq) order, a
 * tombstone not right after its delete. Records after a truncate marker are ignored.
 */
export function replayTopic(records: readonly ReadRecord[], options: ReplayOptions = {}): ReplayResult {
  const state = new Map<string, string>();
  const reads = new Map<string, number>();
  const counts = { r: 0, c: 0, u: 0, d: 0, t: 0, tombstone: 0 };
  const truncatedPartitions = new Set<number>();
  const errors: string[] = [];
  const seen = new Set<string>();
  const lastPos = new Map<string, { lsn: bigint; seq: bigint }>();
  const lastOp = new Map<string, string>();
  const err = (m: string): void => {
    if (errors.length < 25) errors.push(m);
  };
  for (const rec of records) {
    if (truncatedPartitions.has(rec.partition)) continue;
    const v = rec.value;
    if (v && v.op === 't') {
      counts.t++;
      truncatedPartitions.add(rec.partition);
      continue;
    }
    const key = keyOf(rec);
    if (!v) {
      counts.tombstone++;
      if (lastOp.get(key) !== 'd') err(`key ${key}: tombstone not right after a delete (last ${lastOp.get(key)}) at ${rec.partition}/${rec.offset}`);
      lastOp.set(key, 'tombstone');
      continue;
    }
    lastOp.set(key, v.op);
    const where = `${rec.partition}/${rec.offset}`;
    if (v.op === 'r') {
      counts.r++;
      reads.set(key, (reads.get(key) ?? 0) + 1);
      if (state.has(key) && !options.allowRepeatedSnapshotReads) err(`key ${key}: snapshot read of a key already read at ${where}`);
      if (state.has(key) && options.allowRepeatedSnapshotReads && state.get(key) !== String(v.after!.v)) err(`key ${key}: repeated snapshot read with another value at ${where}`);
      state.set(key, String(v.after!.v));
      continue;
    }
    const lsn = v.source.commit_lsn as bigint;
    const seq = v.source.tx_seq as bigint;
    const id = `${lsn}:${seq}:${v.op}:${key}`;
    if (seen.has(id)) err(`change (commit_lsn ${lsn}, tx_seq ${seq}, ${v.op}, key ${key}) arrived twice (again at ${where})`);
    seen.add(id);
    const prev = lastPos.get(key);
    if (prev && (lsn < prev.lsn || (lsn === prev.lsn && seq <= prev.seq))) {
      err(`key ${key}: change (${lsn}, ${seq}, ${v.op}) after (${prev.lsn}, ${prev.seq}): not in commit order at ${where}`);
    }
    lastPos.set(key, { lsn, seq });
    switch (v.op) {
      case 'c':
        counts.c++;
        if (state.has(key)) err(`key ${key}: insert of a key that exists (duplicate insert or lost delete) at ${where}`);
        state.set(key, String(v.after!.v));
        break;
      case 'u': {
        counts.u++;
        const before = state.get(key);
        if (before === undefined) err(`key ${key}: update of a key that does not exist (lost insert or duplicate delete) at ${where}`);
        else if (options.updatesIncrementV && BigInt(v.after!.v as bigint) !== BigInt(before) + 1n) {
          err(`key ${key}: update to v=${v.after!.v} after v=${before} (lost or repeated update) at ${where}`);
        }
        state.set(key, String(v.after!.v));
        break;
      }
      case 'd':
        counts.d++;
        if (!state.has(key)) err(`key ${key}: delete of a key that does not exist (duplicate delete or lost insert) at ${where}`);
        state.delete(key);
        break;
      default:
        err(`unexpected op ${v.op} at ${where}`);
    }
  }
  return { state, counts, reads, truncatedPartitions, errors };
}

/** `id → v` of a table in PostgreSQL, as strings. */
export async function pgState(db: pg.Client, schema: string, table: string): Promise<Map<string, string>> {
  const res = await db.query({ text: `SELECT id::text, v::text FROM ${q(schema)}.${q(table)}`, rowMode: 'array' });
  return new Map((res.rows as [string, string][]).map(([id, v]) => [id, v]));
}

/** The first differences between two `id → v` maps. */
export function diffStates(expected: Map<string, string>, actual: Map<string, string>, max = 10): string[] {
  const out: string[] = [];
  for (const [k, v] of expected) {
    if (out.length >= max) return out;
    const a = actual.get(k);
    if (a === undefined) out.push(`key ${k}: missing (expected v=${v})`);
    else if (a !== v) out.push(`key ${k}: v=${a}, expected v=${v}`);
  }
  for (const k of actual.keys()) {
    if (out.length >= max) return out;
    if (!expected.has(k)) out.push(`key ${k}: present, expected absent`);
  }
  return out;
}

/** Parsed JSON log lines of a process. */
export function logLines(p: RunningProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial last line
    }
  }
  return out;
}

export function hasLog(p: RunningProcess, msg: string | RegExp): boolean {
  return logLines(p).some((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))));
}

export function changeEnvelopes(records: readonly ReadRecord[]): ChangeEnvelope[] {
  return records.map((r) => r.value).filter((v): v is ChangeEnvelope => v !== null);
}
