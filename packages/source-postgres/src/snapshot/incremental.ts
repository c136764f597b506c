import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { errorMessage, ValueError, type Logger } from '@walrelay/core';
import { pgClient, quotePgIdent, wrapPgError, type PgConnectionSettings } from '../replication/connection.js';
import type { RowImage } from '../publish/change-records.js';
import type { IncrementalProgress, KnownTable, SnapshotState } from '../publish/checkpoint.js';
import type { CapturedTable, TableRegistry } from '../tables.js';
import type { LifecycleMetrics } from '../lifecycle-metrics.js';
import { publicationTable, publicationTables, type SnapshotTable } from './publication.js';

/** Prefix of the logical messages (pg_logical_emit_message) that carry walrelay's watermarks. */
export const WATERMARK_PREFIX = 'walrelay-watermark';

export interface IncrementalOptions {
  readonly slot: string;
  readonly publication: string;
  readonly chunkSize: number;
  readonly newTables: boolean;
  readonly newTablesPollMs: number;
  /** The signal table, excluded from what is snapshotted. */
  readonly signalTable: KnownTable;
}

/** What the slot carries (as JSON): chunk watermarks, and queue changes made durable in stream order. */
type Watermark =
  | { slot: string; kind: 'low'; chunk: string; oid: number }
  | { slot: string; kind: 'high'; chunk: string }
  | { slot: string; kind: 'enqueue'; tables: KnownTable[]; reason: string; condition: string | null }
  | { slot: string; kind: 'cancel'; tables: KnownTable[] | null; why: string }
  /** Tables that left the publication: no longer known, so a table that joins again is snapshotted again. */
  | { slot: string; kind: 'forget'; tables: KnownTable[] };

export interface Chunk {
  readonly id: string;
  readonly entryId: string;
  readonly table: CapturedTable;
  readonly rows: (string | null)[][];
  /** Key (JSON of PostgreSQL text values) of the last row read, null when the chunk is empty. */
  readonly lastKey: string | null;
  /** xids (mod 2^32) in progress in the snapshot the chunk was read in. */
  readonly xip: ReadonlySet<number>;
  /** The chunk was full: more rows may follow. */
  readonly full: boolean;
}

export interface Window {
  readonly oid: number;
  /** Keys whose newer full image (or delete) the stream carried inside the window: their chunk rows are dropped. */
  readonly keys: Set<string>;
  /**
   * Keys changed inside the window only by updates that left TOAST columns out (pgoutput's
   * "unchanged"), with the columns every one of those updates left out. The chunk's values of
   * these columns are still current (no change in the window wrote them), and the stream's
   * updates did not carry them: the chunk row is published with only these columns (the others
   * marked unchanged), so a target that does not hold the row yet (after a resync's truncate, or
   * a table snapshotted for the first time) gets them instead of NULL.
   */
  readonly toastOnly: Map<string, Set<string>>;
  /** Why the chunk must be read again (a truncate, a schema change inside the window). */
  invalid: string | null;
  /** xids of transactions committed before the low watermark (the most recent ones). */
  readonly preLow: ReadonlySet<number>;
}

type Outcome = 'published' | 'retry' | 'cancelled';

/** The chunk's rows that survived the window, to publish as `op: r` at the high watermark. */
export interface ChunkEmission {
  readonly table: CapturedTable;
  readonly rows: RowImage[];
  /** Rows of keys changed in the window only by updates without their TOAST values (Window.toastOnly): published with `unchanged` columns. */
  readonly partial: PartialRow[];
}

/** A chunk row whose `unchanged` columns must not be written (the stream carried newer values). */
export interface PartialRow {
  readonly row: RowImage;
  readonly unchanged: string[];
}

const RECENT_COMMITS = 8192;

/**
 * Incremental snapshots, DBLog-style. A reader (its own connection) takes one chunk at
 * a time in key order: it writes a low watermark through the slot, reads the chunk in a
 * REPEATABLE READ transaction, keeps it in memory and writes a high watermark. The
 * stream, which sees every change in commit order, notes the keys of the chunk's table
 * changed between the two watermarks and, at the high one, publishes the chunk's rows
 * minus those keys (their newer images are already in the stream) as `op: r`, in the
 * Kafka transaction that also carries the progress. A change committed just before the
 * low watermark but not yet visible to the chunk's snapshot (PostgreSQL makes a commit
 * visible a moment after writing its WAL record) is caught by comparing the snapshot's
 * in-progress xids with the transactions committed before the low watermark: the chunk
 * is then read again. State changes (a table queued, a snapshot cancelled, a chunk
 * done) happen only in stream order, so the checkpoint of each Kafka transaction
 * holds exactly the progress of what it carries.
 */
export class IncrementalSnapshots {
  readonly #settings: PgConnectionSettings;
  readonly #tables: TableRegistry;
  readonly #options: IncrementalOptions;
  readonly #metrics: LifecycleMetrics;
  readonly #log: Logger;

  // State in stream order (durable through the checkpoint).
  #entries: IncrementalProgress[];
  #known: KnownTable[] | null;
  #snapshot: SnapshotState;
  #dirty = false;

  // Coordination with the reader.
  /** The last RECENT_COMMITS committed xids (a ring). */
  readonly #recent = new Uint32Array(RECENT_COMMITS);
  #recentCount = 0;
  readonly #windows = new Map<string, Window>();
  readonly #expected = new Set<string>();
  readonly #pending = new Map<string, Chunk>();
  readonly #waiters = new Map<string, (o: Outcome) => void>();
  #settled: { id: string; outcome: Outcome }[] = [];
  readonly #enqueueing = new Set<string>();
  readonly #forgetting = new Set<string>();
  #wake: (() => void) | undefined;
  readonly #announced = new Set<string>();

  constructor(
    settings: PgConnectionSettings,
    tables: TableRegistry,
    state: { incremental: readonly IncrementalProgress[]; knownTables: readonly KnownTable[] | null; snapshot: SnapshotState },
    options: IncrementalOptions,
    metrics: LifecycleMetrics,
    log: Logger,
  ) {
    this.#settings = settings;
    this.#tables = tables;
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
    this.#entries = [...state.incremental];
    this.#known = state.knownTables ? [...state.knownTables] : null;
    this.#snapshot = state.snapshot;
    this.#metrics.pending.set(this.#entries.length);
  }

  /** The fields of the checkpoint this state makes. */
  checkpointFields(): { incremental: IncrementalProgress[]; knownTables: KnownTable[] | null; snapshot: SnapshotState } {
    return { incremental: [...this.#entries], knownTables: this.#known ? [...this.#known] : null, snapshot: this.#snapshot };
  }

  /** A state change happened that must be committed at the end of the PostgreSQL transaction in hand. */
  takeDirty(): boolean {
    const d = this.#dirty;
    this.#dirty = false;
    return d;
  }

  // ---- stream side (called in commit order) ----

  onCommit(xid: number): void {
    this.#recent[this.#recentCount % RECENT_COMMITS] = xid >>> 0;
    this.#recentCount++;
  }

  /** Whether a chunk window of relation `oid` is open (only then do row changes need their key). */
  watching(oid: number): boolean {
    if (this.#windows.size === 0) return false;
    for (const w of this.#windows.values()) if (w.oid === oid) return true;
    return false;
  }

  /**
   * A row change of relation `oid`; `key` is the JSON of its key's text values. `unchangedToast`:
   * the columns an update left out (unchanged TOAST values); empty for a full image or a delete.
   */
  onRowChange(oid: number, key: string, unchangedToast: readonly string[] = []): void {
    for (const w of this.#windows.values()) if (w.oid === oid) noteWindowChange(w, key, unchangedToast);
  }

  onTruncate(oids: readonly number[]): void {
    for (const w of this.#windows.values()) if (oids.includes(w.oid)) w.invalid = 'the table was truncated inside the chunk window';
  }

  onRelation(oid: number): void {
    for (const w of this.#windows.values()) if (w.oid === oid) w.invalid ??= 'the table definition was sent again inside the chunk window';
  }

  /**
   * A logical message of a published transaction. Returns the chunk rows to publish
   * now (at a high watermark), or null.
   */
  onMessage(prefix: string, content: Buffer): ChunkEmission | null {
    if (prefix !== WATERMARK_PREFIX) return null;
    let w: Watermark;
    try {
      w = JSON.parse(content.toString('utf8')) as Watermark;
    } catch {
      return null;
    }
    if (w.slot !== this.#options.slot) return null;
    switch (w.kind) {
      case 'low':
        if (this.#expected.has(w.chunk)) this.#windows.set(w.chunk, { oid: w.oid, keys: new Set(), toastOnly: new Map(), invalid: null, preLow: new Set(this.#recent.subarray(0, Math.min(this.#recentCount, RECENT_COMMITS))) });
        return null;
      case 'high':
        return this.#onHigh(w.chunk);
      case 'enqueue':
        this.#enqueue(w.tables, w.reason, w.condition);
        return null;
      case 'cancel':
        this.#cancel(w.tables, w.why);
        return null;
      case 'forget':
        this.#forget(w.tables);
        return null;
    }
  }

  /** A row inserted into the signal table (columns by name, PostgreSQL text). */
  onSignal(row: Readonly<Record<string, string | null>>): void {
    const type = row.type ?? '';
    let data: { tables?: unknown; condition?: unknown } = {};
    try {
      data = row.data ? (JSON.parse(row.data) as typeof data) : {};
    } catch (e) {
      this.#log.error({ signal: row.id, err: errorMessage(e) }, 'signal ignored: its data is not JSON');
      return;
    }
    const tables = Array.isArray(data.tables) ? data.tables.filter((t): t is string => typeof t === 'string').map(splitTableName) : [];
    const condition = typeof data.condition === 'string' && data.condition.trim() !== '' ? data.condition : null;
    if (type === 'execute-snapshot') {
      if (tables.length === 0) {
        this.#log.error({ signal: row.id }, 'execute-snapshot signal ignored: data.tables names no table');
        return;
      }
      this.#log.info({ signal: row.id, tables: tables.map(label), condition }, 'signal: incremental snapshot requested');
      this.#enqueue(tables, 'signal', condition);
    } else if (type === 'stop-snapshot') {
      this.#log.info({ signal: row.id, tables: tables.length ? tables.map(label) : 'all' }, 'signal: stop incremental snapshots');
      this.#cancel(tables.length ? tables : null, `stop-snapshot signal ${row.id ?? ''}`.trim());
    } else {
      this.#log.error({ signal: row.id, type }, 'signal ignored: unknown type (execute-snapshot, stop-snapshot)');
    }
  }

  /** After the Kafka transaction that carried the state changes committed: chunks waiting for it are done. */
  afterCommit(): void {
    const settled = this.#settled;
    this.#settled = [];
    for (const s of settled) {
      this.#waiters.get(s.id)?.(s.outcome);
      this.#waiters.delete(s.id);
    }
  }

  #onHigh(id: string): ChunkEmission | null {
    const chunk = this.#pending.get(id);
    const window = this.#windows.get(id);
    this.#windows.delete(id);
    if (!chunk) return null;
    this.#pending.delete(id);
    const settle = (outcome: Outcome): void => {
      this.#settled.push({ id, outcome });
      this.#dirty = true; // resolve the reader after the commit
    };
    const entryIndex = this.#entries.findIndex((e) => e.id === chunk.entryId);
    if (entryIndex < 0) {
      settle('cancelled');
      return null;
    }
    const result = reconcileChunk(chunk, window, this.#tables.get(chunk.table.relationOid));
    if ('retry' in result) {
      this.#log.debug({ chunk: id, why: result.retry }, 'chunk read again');
      this.#metrics.chunkRetries.inc({ table: label(chunk.table) });
      settle('retry');
      return null;
    }
    const t = chunk.table;
    const { rows } = result;
    let { partial } = result;
    if (t.debezium && partial.length > 0) {
      // Debezium's format has no "not sent" marker for every column type (its placeholder is for
      // text and bytes): these rows are not published, as Debezium does not (README, Known limits).
      this.#log.warn(
        { table: label(t), rows: partial.length, columns: [...new Set(partial.flatMap((p) => Object.keys(p.row).filter((f) => !p.unchanged.includes(f))))] },
        'incremental snapshot (format debezium): rows the stream updated inside the chunk window without their TOAST values (columns: key and those values) are not published; a target without those rows keeps the placeholder or NULL there (REPLICA IDENTITY FULL sends the values)',
      );
      partial = [];
    }
    const entry = this.#entries[entryIndex]!;
    const updated: IncrementalProgress = { ...entry, lastKey: chunk.lastKey ?? entry.lastKey, rows: entry.rows + BigInt(rows.length + partial.length) };
    if (chunk.full) {
      this.#entries[entryIndex] = updated;
    } else {
      this.#entries.splice(entryIndex, 1);
      this.#log.info({ table: label(t), rows: Number(updated.rows), reason: entry.reason, snapshot: entry.id }, 'incremental snapshot of the table finished');
      if (this.#snapshot === 'RUNNING' && !this.#entries.some((e) => e.reason === 'initial')) {
        this.#snapshot = 'DONE';
        this.#log.info('initial snapshot finished (resumed incrementally)');
      }
    }
    this.#metrics.pending.set(this.#entries.length);
    this.#metrics.rows.inc({ table: label(t) }, rows.length + partial.length);
    this.#metrics.chunks.inc({ table: label(t) });
    settle('published');
    return { table: t, rows, partial };
  }

  /**
   * Queues an incremental snapshot from the stream side, in stream order (like a signal): used
   * when the stream learns of something only a new read of the table can carry (a column added
   * with a default, a key change that left TOAST values out). Durable with the next checkpoint.
   * Returns whether it queued a read (false: one not started yet already covers it).
   */
  requestFromStream(tables: readonly KnownTable[], reason: string): boolean {
    // Only a re-read that has not started covers this request: the one in progress (the head of
    // the queue) may have read past rows this change touched.
    const queued = this.#enqueue(tables, reason, null, 'not-started');
    if (queued.length > 0) this.#log.info({ tables: queued.map(label), reason }, 'incremental snapshot queued by the stream');
    return queued.length > 0;
  }

  /**
   * Queues a read of each table, unless an entry for the same table, condition and reason
   * already covers it: any entry (`covered: 'any'`), or one not started yet (`'not-started'`:
   * every entry but the head). Returns the tables it queued.
   */
  #enqueue(tables: readonly KnownTable[], reason: string, condition: string | null, covered: 'any' | 'not-started' = 'any'): KnownTable[] {
    const covering = covered === 'any' ? this.#entries : this.#entries.slice(1);
    const queued: KnownTable[] = [];
    for (const t of tables) {
      this.#enqueueing.delete(label(t));
      if (covering.some((e) => e.schema === t.schema && e.table === t.table && e.condition === condition && e.reason === reason)) continue;
      this.#entries.push({ id: randomUUID(), schema: t.schema, table: t.table, condition, lastKey: null, rows: 0n, reason });
      queued.push(t);
      if (this.#known && !this.#known.some((k) => k.schema === t.schema && k.table === t.table)) this.#known.push({ schema: t.schema, table: t.table });
    }
    this.#metrics.pending.set(this.#entries.length);
    if (queued.length > 0) {
      this.#dirty = true;
      this.#wake?.();
    }
    return queued;
  }

  #forget(tables: readonly KnownTable[]): void {
    if (!this.#known) return;
    const before = this.#known.length;
    this.#known = this.#known.filter((k) => !tables.some((t) => t.schema === k.schema && t.table === k.table));
    for (const t of tables) this.#forgetting.delete(label(t));
    if (this.#known.length !== before) {
      this.#log.info({ tables: tables.map(label) }, 'tables left the publication: no longer captured (their topics are kept); joining again snapshots them again');
      this.#dirty = true;
    }
  }

  #cancel(tables: readonly KnownTable[] | null, why: string): void {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => {
      const hit = tables === null ? e.reason !== 'initial' : tables.some((t) => t.schema === e.schema && t.table === e.table);
      if (hit) this.#log.warn({ table: label(e), rows: Number(e.rows), why }, 'incremental snapshot cancelled');
      return !hit;
    });
    if (this.#entries.length !== before) {
      this.#dirty = true;
      if (this.#snapshot === 'RUNNING' && !this.#entries.some((e) => e.reason === 'initial')) this.#snapshot = 'DONE';
    }
    this.#metrics.pending.set(this.#entries.length);
  }

  // ---- reader side ----

  /** Reads chunks until `signal` aborts; polls the publication for new tables. Throws on a final error. */
  async run(signal: AbortSignal): Promise<void> {
    const client = pgClient(this.#settings, false, 'walrelay-incremental-snapshot');
    try {
      await client.connect();
    } catch (e) {
      throw wrapPgError('incremental snapshot connection', e);
    }
    client.on('error', (e) => this.#log.debug({ err: e.message }, 'incremental snapshot connection error'));
    let lastPoll = 0;
    try {
      while (!signal.aborted) {
        if (this.#options.newTables && this.#known !== null && Date.now() - lastPoll >= this.#options.newTablesPollMs) {
          lastPoll = Date.now();
          await this.#pollNewTables(client);
        }
        const entry = this.#entries[0];
        if (!entry) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(100, this.#options.newTablesPollMs));
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
            signal.addEventListener('abort', () => this.#wake?.(), { once: true });
          });
          this.#wake = undefined;
          continue;
        }
        await this.#chunk(client, entry, signal);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async #pollNewTables(client: pg.Client): Promise<void> {
    const tables = await publicationTables(client, this.#options.publication);
    const known = this.#known ?? [];
    const fresh = tables
      .filter((t) => !(t.schema === this.#options.signalTable.schema && t.table === this.#options.signalTable.table))
      .filter((t) => !known.some((k) => k.schema === t.schema && k.table === t.table))
      .filter((t) => !this.#enqueueing.has(label(t)));
    const gone = known
      .filter((k) => !tables.some((t) => t.schema === k.schema && t.table === k.table))
      .filter((k) => !this.#forgetting.has(label(k)));
    if (gone.length > 0) {
      for (const t of gone) this.#forgetting.add(label(t));
      await emit(client, { slot: this.#options.slot, kind: 'forget', tables: gone.map((t) => ({ schema: t.schema, table: t.table })) });
    }
    if (fresh.length === 0) return;
    for (const t of fresh) this.#enqueueing.add(label(t));
    this.#log.info({ tables: fresh.map(label) }, 'tables joined the publication: queueing an incremental snapshot of each');
    await emit(client, { slot: this.#options.slot, kind: 'enqueue', tables: fresh.map((t) => ({ schema: t.schema, table: t.table })), reason: 'new_table', condition: null });
  }

  async #chunk(client: pg.Client, entry: IncrementalProgress, signal: AbortSignal): Promise<void> {
    const pub = await publicationTable(client, this.#options.publication, entry.schema, entry.table);
    if (!pub) {
      await emit(client, { slot: this.#options.slot, kind: 'cancel', tables: [{ schema: entry.schema, table: entry.table }], why: `${label(entry)} is not in publication ${this.#options.publication}` });
      this.#log.error({ table: label(entry), publication: this.#options.publication }, 'incremental snapshot cancelled: the table is not in the publication');
      await this.#waitQueued(entry, signal);
      return;
    }
    const table = await this.#capturedTable(pub);
    if (!table) {
      await emit(client, { slot: this.#options.slot, kind: 'cancel', tables: [{ schema: entry.schema, table: entry.table }], why: `${label(entry)} has no key` });
      await this.#waitQueued(entry, signal);
      return;
    }
    if (!this.#announced.has(entry.id)) {
      this.#announced.add(entry.id);
      this.#log.info(
        { table: label(entry), snapshot: entry.id, reason: entry.reason, condition: entry.condition, afterKey: entry.lastKey, rowsSoFar: Number(entry.rows), chunkSize: this.#options.chunkSize },
        entry.lastKey === null ? 'incremental snapshot of the table: reading from the first key' : 'incremental snapshot of the table: resuming after the last key published',
      );
    }
    const id = `${entry.id}:${randomUUID()}`;
    this.#expected.add(id);
    try {
      const outcome = new Promise<Outcome>((resolve) => this.#waiters.set(id, resolve));
      await emit(client, { slot: this.#options.slot, kind: 'low', chunk: id, oid: table.relationOid });
      const chunk = await this.#read(client, id, entry, table, pub);
      this.#pending.set(id, chunk);
      await emit(client, { slot: this.#options.slot, kind: 'high', chunk: id });
      const aborted = new Promise<Outcome>((resolve) => signal.addEventListener('abort', () => resolve('cancelled'), { once: true }));
      const o = await Promise.race([outcome, aborted]);
      if (o === 'published') this.#log.debug({ table: label(table), rows: chunk.rows.length, lastKey: chunk.lastKey }, 'chunk published');
    } finally {
      this.#expected.delete(id);
      this.#pending.delete(id);
      this.#waiters.delete(id);
      this.#windows.delete(id);
    }
  }

  /** After a cancel message: wait until the stream has applied it (so the same entry is not taken again). */
  async #waitQueued(entry: IncrementalProgress, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.#entries[0]?.id === entry.id) await sleep(100, undefined, { signal }).catch(() => undefined);
  }

  async #capturedTable(pub: SnapshotTable): Promise<CapturedTable | null> {
    const known = this.#tables.get(pub.oid);
    if (known && (!pub.columns || (known.columns.length === pub.columns.length && known.columns.every((c, i) => c.name === pub.columns![i])))) return known;
    if (known === null) return null;
    return this.#tables.forSnapshot(pub.oid, pub.columns);
  }

  async #read(client: pg.Client, id: string, entry: IncrementalProgress, table: CapturedTable, pub: SnapshotTable): Promise<Chunk> {
    const keyCols = table.keyIndexes.map((i) => table.columns[i]!.name);
    const types = await keyTypes(client, table.relationOid, keyCols);
    const where: string[] = [];
    const params: (string | null)[] = [];
    if (pub.rowFilter) where.push(`(${pub.rowFilter})`);
    if (entry.condition) where.push(`(${entry.condition})`);
    if (entry.lastKey) {
      const last = JSON.parse(entry.lastKey) as (string | null)[];
      const ph = last.map((v, i) => {
        params.push(v);
        return `$${params.length}::${types[i]}`;
      });
      where.push(`(${keyCols.map(quotePgIdent).join(', ')}) > (${ph.join(', ')})`);
    }
    const sql =
      `SELECT ${table.columns.map((c) => quotePgIdent(c.name)).join(', ')} FROM ${quotePgIdent(table.schema)}.${quotePgIdent(table.table)}` +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY ${keyCols.map(quotePgIdent).join(', ')} LIMIT ${this.#options.chunkSize}`;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snap = (await client.query({ text: 'SELECT pg_current_snapshot()::text AS s', rowMode: 'array' })).rows[0]?.[0] as string;
      const res = await client.query({ text: sql, values: params, rowMode: 'array' });
      await client.query('COMMIT');
      const rows = res.rows as (string | null)[][];
      const last = rows.length > 0 ? keyOf(table, rows[rows.length - 1]!) : null;
      return { id, entryId: entry.id, table, rows, lastKey: last, xip: parseXip(snap), full: rows.length >= this.#options.chunkSize };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      const msg = errorMessage(e);
      throw new ValueError(`incremental snapshot of ${label(table)}${entry.condition ? ` (condition ${entry.condition})` : ''}: reading a chunk failed: ${msg}`, { cause: e, retriable: isConnectionLoss(e) });
    }
  }
}

/**
 * A change the stream carried for `key` inside the window. A full image (or a delete) replaces
 * the chunk row; an update without some TOAST values leaves the chunk those columns (the ones
 * every such update in the window left out).
 */
export function noteWindowChange(w: Window, key: string, unchangedToast: readonly string[]): void {
  if (w.keys.has(key)) return;
  if (unchangedToast.length === 0) {
    w.keys.add(key);
    w.toastOnly.delete(key);
    return;
  }
  const columns = w.toastOnly.get(key);
  if (!columns) {
    w.toastOnly.set(key, new Set(unchangedToast));
    return;
  }
  for (const c of columns) if (!unchangedToast.includes(c)) columns.delete(c);
}

/**
 * The DBLog step at a high watermark: the chunk's rows minus the keys changed between
 * the watermarks (those changed only by updates without TOAST values keep those columns:
 * Window.toastOnly), or why the chunk must be read again.
 */
export function reconcileChunk(
  chunk: Chunk,
  window: Window | undefined,
  current: CapturedTable | null | undefined,
): { rows: RowImage[]; partial: PartialRow[] } | { retry: string } {
  if (!window) return { retry: 'the low watermark was not seen' };
  if (window.invalid) return { retry: window.invalid };
  if (current !== chunk.table) return { retry: 'the table definition changed' };
  for (const x of chunk.xip) {
    if (window.preLow.has(x)) return { retry: `transaction ${x} committed before the low watermark but was not yet visible to the chunk's snapshot` };
  }
  const rows: RowImage[] = [];
  const partial: PartialRow[] = [];
  for (const raw of chunk.rows) {
    const key = keyOf(chunk.table, raw);
    if (window.keys.has(key)) continue;
    const toast = window.toastOnly.get(key);
    if (toast === undefined) {
      rows.push(convertRow(chunk.table, raw, key));
    } else if (toast.size > 0) {
      const unchanged = chunk.table.columns.filter((c, i) => !chunk.table.keyIndexes.includes(i) && !toast.has(c.field)).map((c) => c.field);
      partial.push({ row: convertRow(chunk.table, raw, key), unchanged });
    }
  }
  return { rows, partial };
}

export function keyOf(t: CapturedTable, raw: readonly (string | null | undefined)[]): string {
  return JSON.stringify(t.keyIndexes.map((i) => raw[i] ?? null));
}

/** A row of PostgreSQL text values as a record image; a value that does not convert names table, column and key. */
export function convertRow(t: CapturedTable, raw: readonly (string | null | undefined)[], key: string): RowImage {
  const after: RowImage = {};
  for (let i = 0; i < t.columns.length; i++) {
    const text = raw[i];
    const c = t.columns[i]!;
    try {
      after[c.field] = text === null || text === undefined ? null : t.converters[i]!(text);
    } catch (e) {
      throw new ValueError(`${label(t)} column ${c.name} (${c.pgType}) of the row with key ${key}: ${errorMessage(e)}`, { cause: e });
    }
  }
  return after;
}

function parseXip(snapshot: string): Set<number> {
  const parts = snapshot.split(':');
  const list = parts[2] ?? '';
  return new Set(list === '' ? [] : list.split(',').map((x) => Number(BigInt(x) % 4294967296n)));
}

async function keyTypes(client: pg.Client, oid: number, names: readonly string[]): Promise<string[]> {
  const res = await client.query({
    text: 'SELECT attname, format_type(atttypid, NULL) AS t FROM pg_attribute WHERE attrelid = $1 AND attname = ANY($2::text[]) AND NOT attisdropped',
    values: [oid, names],
  });
  const by = new Map((res.rows as { attname: string; t: string }[]).map((r) => [r.attname, r.t]));
  return names.map((n) => by.get(n) ?? 'text');
}

async function emit(client: pg.Client, w: Watermark): Promise<void> {
  try {
    await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [WATERMARK_PREFIX, JSON.stringify(w)]);
  } catch (e) {
    throw wrapPgError(`writing a ${w.kind} watermark`, e);
  }
}

function isConnectionLoss(e: unknown): boolean {
  return /Connection terminated|ECONNRESET|not queryable|terminating connection/i.test(errorMessage(e));
}

function label(t: { schema: string; table: string }): string {
  return `${t.schema}.${t.table}`;
}

function splitTableName(spec: string): KnownTable {
  // schema.table, or table (public); a quoted part may hold dots.
  const m = /^(?:"((?:[^"]|"")+)"|([^."]+))(?:\.(?:"((?:[^"]|"")+)"|([^."]+)))?$/.exec(spec.trim());
  if (!m) return { schema: 'public', table: spec };
  const first = (m[1]?.replace(/""/g, '"') ?? m[2]) as string;
  const second = m[3]?.replace(/""/g, '"') ?? m[4];
  return second === undefined ? { schema: 'public', table: first } : { schema: first, table: second };
}
