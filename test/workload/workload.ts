import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { pgConnect, q } from '../support/postgres.js';

/**
 * A seeded, reproducible PostgreSQL workload for the fault suite and benchmarks.
 *
 * Tables (in one schema):
 *   narrow  (id int8 PK, v int4, note text)                                   small rows, bulk and very large transactions, truncates
 *   wide    (id int8 PK, every supported type…, big text)                     wide rows, large TOASTed `big`, updates that leave `big` unchanged
 *   pair    (a int4, b text, val text, qty int4; PK (a, b))                   composite key; gains `extra int8` mid-run (ADD COLUMN)
 *   audit   (id int8 PK, tbl text, op text, n int4, at timestamptz)           insert-only: one row per generated row change, in the same transaction
 *
 * Audit ids are contiguous as generated: each transaction takes the next ids, and after an
 * error (server restart mid-transaction, ambiguous commit) the counter is re-read from
 * PostgreSQL, so the committed ids are always exactly 1..max.
 *
 * Ops are drawn from a seeded PRNG: the same seed and options give the same sequence of
 * transactions (the values of `now()` and retries after faults aside).
 */

export interface WorkloadOptions {
  /** Row changes to generate (audit rows not counted). */
  readonly changes: number;
  readonly seed?: number;
  /** Pace: row changes per second at most (0 = as fast as possible). */
  readonly rate?: number;
  /** Rows in the "very large" transactions (a few of them per run). */
  readonly largeTxRows?: number;
  /** Approximate bytes of a TOASTed `big` value. */
  readonly toastBytes?: number;
  /** Mix weights (relative). */
  readonly mix?: Partial<Record<OpKind, number>>;
  /** Generate NaN/±Infinity floats (not storable in MySQL/MariaDB). */
  readonly nonFiniteFloats?: boolean;
  readonly log?: (line: string) => void;
}

export type OpKind = 'insert' | 'update' | 'updateToastUnchanged' | 'delete' | 'multiRow' | 'truncate';

export const DEFAULT_MIX: Record<OpKind, number> = {
  insert: 40,
  update: 22,
  updateToastUnchanged: 10,
  delete: 12,
  multiRow: 4,
  truncate: 1,
};

export const WORKLOAD_TABLES = ['narrow', 'wide', 'pair', 'audit'] as const;

/** DDL for the workload's tables in `schema` (already quoted). */
export function workloadDdl(s: string): string[] {
  return [
    `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
    `CREATE TABLE ${s}.narrow (id int8 PRIMARY KEY, v int4 NOT NULL, note text)`,
    `CREATE TABLE ${s}.wide (
      id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(40), price numeric(12,3), n numeric,
      f4 float4, f8 float8, flag bool, born date, t time, at timestamptz, local timestamp, tags text[], ints int4[],
      doc jsonb, uid uuid, bin bytea, mood ${s}.mood, dur interval, big text)`,
    `CREATE TABLE ${s}.pair (a int4, b text, val text, qty int4, PRIMARY KEY (a, b))`,
    `CREATE TABLE ${s}.audit (id int8 PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, n int4 NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  ];
}

/** mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadStats {
  changes: number;
  transactions: number;
  failedTransactions: number;
  auditRows: number;
  byOp: Record<string, number>;
  schemaChanged: boolean;
  largeTransactions: number;
}

interface Tx {
  readonly label: string;
  /** Row changes this transaction makes (approximately for update/delete of random keys). */
  readonly rows: number;
  readonly statements: (audit: (tbl: string, op: string, n: number) => string) => string[];
}

const HEX = '0123456789abcdef';

export class Workload {
  readonly schema: string;
  readonly options: Required<Omit<WorkloadOptions, 'log' | 'mix'>> & { mix: Record<OpKind, number> };
  readonly stats: WorkloadStats = { changes: 0, transactions: 0, failedTransactions: 0, auditRows: 0, byOp: {}, schemaChanged: false, largeTransactions: 0 };
  readonly #log: (line: string) => void;
  readonly #rand: () => number;
  #db: pg.Client | undefined;
  #nextAudit = 1n;
  #next = { narrow: 1, wide: 1, pair: 1 };
  #stopped = false;
  #pairExtra = false;
  #largeDone = 0;

  constructor(schema: string, options: WorkloadOptions) {
    this.schema = schema;
    this.options = {
      changes: options.changes,
      seed: options.seed ?? 1,
      rate: options.rate ?? 0,
      largeTxRows: options.largeTxRows ?? Math.max(200, Math.min(50_000, Math.floor(options.changes / 20))),
      toastBytes: options.toastBytes ?? 64_000,
      nonFiniteFloats: options.nonFiniteFloats ?? false,
      mix: { ...DEFAULT_MIX, ...(options.mix ?? {}) },
    };
    this.#log = options.log ?? (() => undefined);
    this.#rand = rng(this.options.seed);
  }

  stop(): void {
    this.#stopped = true;
  }

  get done(): boolean {
    return this.stats.changes >= this.options.changes;
  }

  #int(lo: number, hi: number): number {
    return lo + Math.floor(this.#rand() * (hi - lo + 1));
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#rand() * xs.length)] as T;
  }

  #str(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += HEX[Math.floor(this.#rand() * 16)];
    return s;
  }

  #lit(s: string): string {
    return `'${s.replace(/'/g, "''")}'`;
  }

  /** Column names of `wide`, in order. */
  static readonly WIDE_COLUMNS = ['id', 'i2', 'i4', 'name', 'v', 'price', 'n', 'f4', 'f8', 'flag', 'born', 't', 'at', 'local', 'tags', 'ints', 'doc', 'uid', 'bin', 'mood', 'dur', 'big'];

  /** A VALUES tuple for `wide`. */
  #wideRow(id: number, withBig: boolean): string {
    return `(${this.#wideValues(id, withBig).join(', ')})`;
  }

  /** `col = value, …` for every non-key column of `wide`. */
  #wideSet(id: number, withBig: boolean): string {
    return this.#wideValues(id, withBig)
      .slice(1)
      .map((v, i) => `${Workload.WIDE_COLUMNS[i + 1]} = ${v}`)
      .join(', ');
  }

  /** Values for `wide`, covering every supported type (with NULLs now and then). */
  #wideValues(id: number, withBig: boolean): string[] {
    const r = this.#rand;
    const n = (v: string): string => (r() < 0.08 ? 'NULL' : v);
    const ts = new Date(Date.UTC(2000 + this.#int(0, 30), this.#int(0, 11), this.#int(1, 28), this.#int(0, 23), this.#int(0, 59), this.#int(0, 59)) + this.#int(0, 999) + 1);
    const iso = ts.toISOString().replace('T', ' ').replace('Z', '');
    const micro = String(this.#int(0, 999)).padStart(3, '0');
    // md5 text does not compress, so the value is stored out of line (TOASTed).
    const big = withBig ? `(SELECT string_agg(md5(${this.#lit(this.#str(8))} || g::text), '') FROM generate_series(1, ${Math.max(100, Math.floor(this.options.toastBytes / 32))}) g)` : 'NULL';
    // MySQL/MariaDB floats have no NaN/Infinity (the sink refuses them by design): only with nonFiniteFloats.
    const inf = this.options.nonFiniteFloats;
    return [
      String(id),
      // Parenthesised: `-32768::int2` parses as -(32768::int2), which overflows.
      n(`(${this.#int(-32768, 32767)})::int2`),
      n(`(${this.#int(-2147483648, 2147483647)})::int4`),
      n(`${this.#lit(`name ${this.#str(8)} é ✓ '${id}'`)}::text`),
      n(`${this.#lit(this.#str(this.#int(0, 40)))}::varchar`),
      n(`${this.#int(-999999999, 999999999)}.${this.#int(0, 999)}::numeric`),
      n(`${this.#pick(["'NaN'", `'${this.#int(-1e9, 1e9)}.${this.#int(0, 99999999)}'`, "'0'", `'1e-20'`])}::numeric`),
      n(`${this.#pick(['1.5', '-0.25', `${this.#int(-1000, 1000)}.125`, inf ? "'Infinity'" : '3.25e30'])}::float4`),
      n(`${this.#pick(['1.7976931348623157e308', '-2.5e-300', `${this.#int(-1e6, 1e6)}.0625`, inf ? "'NaN'" : '0'])}::float8`),
      n(r() < 0.5 ? 'true' : 'false'),
      n(`'${iso.slice(0, 10)}'::date`),
      n(`'${iso.slice(11, 19)}.${micro}${this.#int(0, 999)}'::time`),
      n(`'${iso}${micro}+0${this.#int(0, 9)}'::timestamptz`),
      n(`'${iso}'::timestamp`),
      n(`${this.#pick([`'{"a b",NULL,"c\\"d"}'`, `'{}'`, `ARRAY[${this.#lit(this.#str(5))}, 'x,y']`])}::text[]`),
      n(`ARRAY[${this.#int(-100, 100)}, ${this.#int(-100, 100)}]::int4[]`),
      n(`'${JSON.stringify({ k: this.#str(4), n: this.#int(0, 1000), nested: { ok: r() < 0.5, list: [1, null, 'x'] } })}'::jsonb`),
      n(`'${this.#str(8)}-${this.#str(4)}-4${this.#str(3)}-8${this.#str(3)}-${this.#str(12)}'::uuid`),
      n(`'\\x${this.#str(2 * this.#int(0, 40))}'::bytea`),
      n(`${this.#pick(["'sad'", "'ok'", "'happy'"])}::${q(this.schema)}.mood`),
      n(`'${this.#int(0, 5)} years ${this.#int(0, 11)} mons ${this.#int(-20, 20)} days ${this.#int(0, 23)}:${this.#int(10, 59)}:${this.#int(10, 59)}.5'::interval`),
      big,
    ];
  }

  /** Draws the next transaction. */
  #nextTx(): Tx {
    const s = q(this.schema);
    const mix = this.options.mix;
    const total = Object.values(mix).reduce((a, b) => a + b, 0);
    let x = this.#rand() * total;
    let kind: OpKind = 'insert';
    for (const [k, w] of Object.entries(mix) as [OpKind, number][]) {
      if (x < w) {
        kind = k;
        break;
      }
      x -= w;
    }
    const table = this.#pick(['narrow', 'narrow', 'wide', 'pair'] as const);
    const { changes } = this.options;
    // A few very large transactions, at fixed points of the run.
    const large = this.#largeDone < 3 && changes >= 4 * this.options.largeTxRows && this.stats.changes >= ((this.#largeDone + 0.5) * changes) / 4;
    if (large) {
      this.#largeDone++;
      const n = this.options.largeTxRows;
      const from = this.#next.narrow;
      this.#next.narrow += n;
      this.stats.largeTransactions++;
      return {
        label: 'large',
        rows: n,
        statements: (audit) => [
          `INSERT INTO ${s}.narrow (id, v, note) SELECT g, g % 1000, 'large ' || md5(g::text) FROM generate_series(${from}, ${from + n - 1}) g`,
          audit('narrow', 'c', n),
        ],
      };
    }
    switch (kind) {
      case 'insert': {
        if (table === 'wide') {
          const id = this.#next.wide++;
          const row = this.#wideRow(id, this.#rand() < 0.6);
          return { label: 'insert', rows: 1, statements: (audit) => [`INSERT INTO ${s}.wide VALUES ${row}`, audit('wide', 'c', 1)] };
        }
        if (table === 'pair') {
          const a = this.#next.pair++;
          const b = this.#pick(['x', 'y', 'ü"z', "q'r"]);
          const cols = this.#pairExtra ? '(a, b, val, qty, extra)' : '(a, b, val, qty)';
          const vals = `(${a}, ${this.#lit(b)}, ${this.#lit(this.#str(10))}, ${this.#int(0, 100)}${this.#pairExtra ? `, ${this.#int(0, 1e9)}` : ''})`;
          return { label: 'insert', rows: 1, statements: (audit) => [`INSERT INTO ${s}.pair ${cols} VALUES ${vals}`, audit('pair', 'c', 1)] };
        }
        const id = this.#next.narrow++;
        const v = this.#int(0, 1e6);
        const note = this.#str(this.#int(0, 60));
        return { label: 'insert', rows: 1, statements: (audit) => [`INSERT INTO ${s}.narrow VALUES (${id}, ${v}, ${this.#lit(note)})`, audit('narrow', 'c', 1)] };
      }
      case 'update': {
        if (table === 'wide') {
          const id = this.#int(1, Math.max(1, this.#next.wide - 1));
          const set = this.#wideSet(id, this.#rand() < 0.5);
          // Replace the whole row (big included).
          return {
            label: 'update',
            rows: 1,
            statements: (audit) => [
              `UPDATE ${s}.wide SET ${set} WHERE id = ${id}`,
              audit('wide', 'u', 1),
            ],
          };
        }
        if (table === 'pair') {
          const lo = this.#int(1, Math.max(1, this.#next.pair - 1));
          const set = this.#pairExtra && this.#rand() < 0.5 ? `extra = ${this.#int(0, 1e9)}` : `val = ${this.#lit(this.#str(12))}, qty = qty + 1`;
          return { label: 'update', rows: 1, statements: (audit) => [`UPDATE ${s}.pair SET ${set} WHERE a = ${lo}`, audit('pair', 'u', 1)] };
        }
        const id = this.#int(1, Math.max(1, this.#next.narrow - 1));
        const v = this.#int(0, 1e6);
        return { label: 'update', rows: 1, statements: (audit) => [`UPDATE ${s}.narrow SET v = ${v}, note = note || 'u' WHERE id = ${id}`, audit('narrow', 'u', 1)] };
      }
      case 'updateToastUnchanged': {
        // Updates of wide rows that leave the TOASTed `big` alone (pgoutput sends "unchanged"),
        // two in one transaction half the time (coalesced in the sink).
        const id = this.#int(1, Math.max(1, this.#next.wide - 1));
        const twice = this.#rand() < 0.5;
        const name = this.#str(6);
        return {
          label: 'updateToastUnchanged',
          rows: twice ? 2 : 1,
          statements: (audit) => [
            `UPDATE ${s}.wide SET name = 'toast-kept ${name}', i4 = coalesce(i4, 0) / 2 + 1 WHERE id = ${id}`,
            ...(twice ? [`UPDATE ${s}.wide SET flag = NOT coalesce(flag, false) WHERE id = ${id}`] : []),
            audit('wide', 'u', twice ? 2 : 1),
          ],
        };
      }
      case 'delete': {
        if (table === 'wide') {
          const id = this.#int(1, Math.max(1, this.#next.wide - 1));
          return { label: 'delete', rows: 1, statements: (audit) => [`DELETE FROM ${s}.wide WHERE id = ${id}`, audit('wide', 'd', 1)] };
        }
        if (table === 'pair') {
          const a = this.#int(1, Math.max(1, this.#next.pair - 1));
          return { label: 'delete', rows: 1, statements: (audit) => [`DELETE FROM ${s}.pair WHERE a = ${a}`, audit('pair', 'd', 1)] };
        }
        const id = this.#int(1, Math.max(1, this.#next.narrow - 1));
        return { label: 'delete', rows: 1, statements: (audit) => [`DELETE FROM ${s}.narrow WHERE id = ${id}`, audit('narrow', 'd', 1)] };
      }
      case 'multiRow': {
        // Several statements on several tables in one transaction: inserts, an update of a
        // range, a delete of a range.
        const n = this.#int(5, 60);
        const from = this.#next.narrow;
        this.#next.narrow += n;
        const lo = this.#int(1, Math.max(1, from - 1));
        const pa = this.#next.pair;
        this.#next.pair += 3;
        const wid = this.#next.wide++;
        const wrow = this.#wideRow(wid, this.#rand() < 0.3);
        const extraCols = this.#pairExtra ? ', extra' : '';
        const extraVal = this.#pairExtra ? `, g * 7` : '';
        return {
          label: 'multiRow',
          rows: n + 3 + 1 + 10 + 3,
          statements: (audit) => [
            `INSERT INTO ${s}.narrow (id, v, note) SELECT g, g % 97, md5(g::text || ${this.#lit(this.#str(4))}) FROM generate_series(${from}, ${from + n - 1}) g`,
            audit('narrow', 'c', n),
            `INSERT INTO ${s}.pair (a, b, val, qty${extraCols}) SELECT g, 'm', 'multi', g % 10${extraVal} FROM generate_series(${pa}, ${pa + 2}) g`,
            audit('pair', 'c', 3),
            `INSERT INTO ${s}.wide VALUES ${wrow}`,
            audit('wide', 'c', 1),
            `UPDATE ${s}.narrow SET v = v + 1 WHERE id BETWEEN ${lo} AND ${lo + 9}`,
            audit('narrow', 'u', 10),
            `DELETE FROM ${s}.narrow WHERE id BETWEEN ${lo + 10} AND ${lo + 12}`,
            audit('narrow', 'd', 3),
          ],
        };
      }
      case 'truncate': {
        return { label: 'truncate', rows: 1, statements: (audit) => [`TRUNCATE ${s}.pair`, audit('pair', 't', 1)] };
      }
    }
  }

  async #connect(): Promise<pg.Client> {
    if (this.#db) return this.#db;
    const db = await pgConnect();
    db.on('error', () => undefined);
    this.#db = db;
    const r = await db.query(`SELECT coalesce(max(id), 0)::int8 AS m FROM ${q(this.schema)}.audit`);
    this.#nextAudit = BigInt(r.rows[0].m) + 1n;
    return db;
  }

  async #drop(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (db) await db.end().catch(() => undefined);
  }

  /** Runs one transaction; on a connection error reconnects and re-syncs the audit counter (retried by the caller with the next draw). */
  async #run(tx: Tx): Promise<boolean> {
    let db: pg.Client;
    try {
      db = await this.#connect();
    } catch {
      await this.#drop();
      return false;
    }
    let auditFrom = this.#nextAudit;
    let auditRows = 0;
    const audit = (tbl: string, op: string, n: number): string => {
      const from = auditFrom;
      auditFrom += BigInt(n);
      auditRows += n;
      return `INSERT INTO ${q(this.schema)}.audit (id, tbl, op, n) SELECT g, '${tbl}', '${op}', ${n} FROM generate_series(${from}::int8, ${from + BigInt(n) - 1n}::int8) g`;
    };
    const statements = tx.statements(audit);
    try {
      await db.query('BEGIN');
      for (const sql of statements) await db.query(sql);
      await db.query('COMMIT');
      this.#nextAudit = auditFrom;
      this.stats.auditRows += auditRows;
      return true;
    } catch (e) {
      this.stats.failedTransactions++;
      this.#log(`workload: transaction failed (${(e as Error).message.split('\n')[0]}); reconnecting`);
      await db.query('ROLLBACK').catch(() => undefined);
      await this.#drop();
      return false;
    }
  }

  /** Runs until `changes` row changes are committed (or stop()). */
  async run(): Promise<WorkloadStats> {
    const t0 = Date.now();
    const halfway = Math.floor(this.options.changes / 2);
    while (!this.#stopped && !this.done) {
      if (!this.#pairExtra && this.stats.changes >= halfway) {
        // Schema change mid-run: a new column on pair.
        try {
          const db = await this.#connect();
          await db.query(`ALTER TABLE ${q(this.schema)}.pair ADD COLUMN IF NOT EXISTS extra int8`);
          this.#pairExtra = true;
          this.stats.schemaChanged = true;
          this.#log(`workload: ALTER TABLE pair ADD COLUMN extra int8 after ${this.stats.changes} changes`);
        } catch {
          await this.#drop();
          await sleep(500);
          continue;
        }
      }
      const tx = this.#nextTx();
      if (await this.#run(tx)) {
        this.stats.changes += tx.rows;
        this.stats.transactions++;
        this.stats.byOp[tx.label] = (this.stats.byOp[tx.label] ?? 0) + tx.rows;
      } else {
        await sleep(500);
      }
      if (this.options.rate > 0) {
        const due = t0 + (this.stats.changes / this.options.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
    await this.#drop();
    return this.stats;
  }
}
