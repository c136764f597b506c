import {
  encodeAvro,
  errorMessage,
  formatLsn,
  ReplicationError,
  type Logger,
  type Lsn,
  type SourceBlock,
} from '@walrelay/core';
import { PgOutputDecoder, pgMicrosToUnixMs, type PgOutputMessage, type ReplicationFrame, type TupleValue } from './protocol/index.js';
import type { ReplicationConnection } from './replication/connection.js';
import { Inbox } from './replication/inbox.js';
import type { OutRecord, TransactionalPublisher } from './publish/publisher.js';
import { changeRecords, keyImage, truncateRecords, type RowImage } from './publish/change-records.js';
import type { SourceCheckpoint } from './publish/checkpoint.js';
import type { CapturedTable, TableRegistry } from './tables.js';
import type { SourceMetrics } from './metrics.js';
import type { IncrementalSnapshots } from './snapshot/incremental.js';
import type { KnownTable } from './publish/checkpoint.js';

export interface StreamOptions {
  readonly slot: string;
  readonly publication: string;
  readonly protocolVersion: number;
  readonly connectorName: string;
  readonly database: string;
  readonly tombstones: boolean;
  readonly maxChanges: number;
  readonly maxBytes: number;
  readonly maxDelayMs: number;
  readonly statusIntervalMs: number;
  readonly version: string;
  /** The signal table: its inserts are signals, never published. */
  readonly signalTable?: KnownTable;
}

type Item = { kind: 'message'; lsn: Lsn; message: PgOutputMessage } | { kind: 'keepalive'; walEnd: Lsn } | { kind: 'tick' } | { kind: 'end'; error?: Error };

interface OpenTx {
  readonly xid: number;
  readonly finalLsn: Lsn;
  readonly commitMicros: bigint;
  /** Changes seen so far (1-based sequence of the last one). */
  seq: bigint;
  /** Skip the whole transaction: its commit is at or below the checkpoint. */
  readonly skipAll: boolean;
  /** Skip changes with seq <= this (published before a restart). */
  readonly skipUpTo: bigint;
  /** The source block's fields that are the same for every change of the transaction. */
  readonly tsMs: bigint;
  readonly tsUs: bigint;
  readonly txId: bigint;
}

/**
 * The inbox's watermarks: the socket is paused above HIGH_WATER items and resumed below
 * LOW_WATER. Frames queue only while the loop waits (a produce hand-over, a Kafka commit);
 * the kernel's socket buffer holds what the server sends meanwhile at no cost to the heap,
 * while every decoded frame held here outlives a young-generation collection or two and is
 * copied and promoted. At 2,000 / 200 a third of what the source allocated survived its
 * scavenges; at 256 / 64 a tenth (docs/performance.md, Session 14). A socket read already
 * taken is decoded whole, so the inbox may pass HIGH_WATER by one read's frames.
 */
const HIGH_WATER = 256;
const LOW_WATER = 64;
/** The unchanged-TOAST list of a row that has every value. */
const NONE_UNCHANGED: readonly string[] = Object.freeze([]);

/**
 * The streaming half of the source: decodes pgoutput, turns changes into records,
 * groups whole PostgreSQL transactions into Kafka transactions that also carry the
 * checkpoint, and confirms to PostgreSQL only what Kafka has committed.
 */
export class ChangeStream {
  readonly #repl: ReplicationConnection;
  readonly #publisher: TransactionalPublisher;
  readonly #tables: TableRegistry;
  readonly #options: StreamOptions;
  readonly #metrics: SourceMetrics;
  readonly #log: Logger;
  readonly #decoder: PgOutputDecoder;

  readonly #queue = new Inbox<Item>();
  #wake: (() => void) | undefined;
  #stopping = false;

  #checkpoint: SourceCheckpoint;
  #tx: OpenTx | null = null;
  /** Transactions fully added to the open Kafka transaction, not yet committed. */
  #pendingCommits = 0;
  /** The flush position the last status update reported. */
  #statusFlushed: Lsn = 0n;
  /** Between a change's start and its first record (where a refused record may commit what precedes it). */
  #changeStart = false;
  #pendingBytes = 0;
  #pendingSince = 0;
  #lastCommitMicros = 0n;
  #received: Lsn = 0n;
  #serverEnd: Lsn = 0n;
  #confirmed: Lsn;
  #statusTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #lastProgress = Date.now();
  readonly #incremental: IncrementalSnapshots | undefined;
  /** Relation oid of the signal table and its column names (tuple order), once its Relation message came. */
  #signal: { oid: number; columns: string[] } | undefined;

  constructor(
    repl: ReplicationConnection,
    publisher: TransactionalPublisher,
    tables: TableRegistry,
    checkpoint: SourceCheckpoint,
    options: StreamOptions,
    metrics: SourceMetrics,
    log: Logger,
    incremental?: IncrementalSnapshots,
  ) {
    this.#incremental = incremental;
    this.#repl = repl;
    this.#publisher = publisher;
    this.#tables = tables;
    this.#checkpoint = checkpoint;
    this.#options = options;
    this.#metrics = metrics;
    this.#log = log;
    this.#confirmed = checkpoint.endLsn;
    this.#decoder = new PgOutputDecoder({ protocolVersion: options.protocolVersion });
  }

  /** Milliseconds since the loop last made progress (for /healthz). */
  get idleMs(): number {
    return Date.now() - this.#lastProgress;
  }

  get confirmedLsn(): Lsn {
    return this.#confirmed;
  }

  /** Ask the loop to finish: the open Kafka transaction is committed at a transaction boundary or aborted. */
  stop(): void {
    this.#stopping = true;
    this.#push({ kind: 'end' });
  }

  /** End the loop with an error (a failure of a part that runs beside it, e.g. the incremental snapshot reader). */
  fail(error: Error): void {
    this.#push({ kind: 'end', error });
  }

  async run(startLsn: Lsn): Promise<void> {
    const options: Record<string, string> = {
      proto_version: String(this.#options.protocolVersion),
      publication_names: quoteList(this.#options.publication),
      // Logical messages carry the incremental snapshots' watermarks (PostgreSQL 14+).
      ...(this.#incremental ? { messages: 'true' } : {}),
    };
    this.#log.info({ slot: this.#options.slot, start: formatLsn(startLsn), protocol: this.#options.protocolVersion }, 'starting replication');
    await this.#repl.startReplication(this.#options.slot, startLsn, options, {
      onFrame: (frame) => this.#onFrame(frame),
      onError: (error) => this.#push({ kind: 'end', error }),
      onEnd: () => this.#push({ kind: 'end', error: new ReplicationError('the server ended the replication stream', { retriable: true }) }),
    });
    this.#statusTimer = setInterval(() => this.#sendStatus(false), this.#options.statusIntervalMs);
    this.#tickTimer = setInterval(() => this.#push({ kind: 'tick' }), Math.max(10, Math.floor(this.#options.maxDelayMs / 2) || 10));
    try {
      await this.#loop();
    } finally {
      clearInterval(this.#statusTimer);
      clearInterval(this.#tickTimer);
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
  }

  #onFrame(frame: ReplicationFrame): void {
    if (frame.kind === 'keepalive') {
      if (frame.walEnd > this.#serverEnd) this.#serverEnd = frame.walEnd;
      // Answer at once (even while a large transaction is being published), with the
      // safe confirmed LSN; the in-order copy may confirm further when nothing is pending.
      if (frame.replyRequested) this.#sendStatus(false);
      this.#push({ kind: 'keepalive', walEnd: frame.walEnd });
      return;
    }
    if (frame.walEnd > this.#serverEnd) this.#serverEnd = frame.walEnd;
    let message: PgOutputMessage;
    try {
      // Decode now: text values become strings, binary values are copied, so the
      // connection's buffer may be reused.
      message = this.#decoder.decode(frame.data);
    } catch (e) {
      this.#push({ kind: 'end', error: e as Error });
      return;
    }
    this.#push({ kind: 'message', lsn: frame.walStart, message });
  }

  /**
   * A tick when the oldest PostgreSQL commit waiting in the open Kafka transaction is due
   * (`transactions.maxDelayMs` after it): the commit does not wait for the next periodic tick,
   * so a change becomes visible within maxDelayMs plus the commit itself.
   */
  #armDeadline(ms: number): void {
    if (this.#deadline !== undefined || this.#options.maxDelayMs === 0) return;
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      this.#push({ kind: 'tick' });
    }, ms);
  }

  #push(item: Item): void {
    this.#queue.push(item);
    if (this.#queue.length > HIGH_WATER) this.#repl.pause();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next queued item, or undefined when the queue is empty. */
  #take(): Item | undefined {
    const item = this.#queue.shift();
    if (item && this.#queue.length < LOW_WATER) this.#repl.resume();
    return item;
  }

  /** The next item once one is queued (called when none is): the wait is counted as waiting for the replication stream. */
  async #next(): Promise<Item> {
    const started = performance.now();
    for (;;) {
      const item = this.#take();
      if (item) {
        this.#metrics.waits.add('input', performance.now() - started);
        return item;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /*
   * The per-change path (#onMessage → #onChange → #rowChange → #add) returns a promise only when
   * it has to wait (a produce request to hand over, a Kafka commit, a registry lookup), and
   * undefined otherwise: as async functions, each change cost four promises and their awaits,
   * about a third of the source's allocations (docs/performance.md, Session 13). The order of
   * the work is the same: a step that returns a promise is awaited before the next one starts.
   */
  async #loop(): Promise<void> {
    for (;;) {
      const item = this.#take() ?? (await this.#next());
      this.#lastProgress = Date.now();
      switch (item.kind) {
        case 'message': {
          if (item.lsn > this.#received) this.#received = item.lsn;
          const waiting = this.#onMessage(item.lsn, item.message);
          if (waiting) await waiting;
          break;
        }
        case 'keepalive':
          if (item.walEnd > this.#received) this.#received = item.walEnd;
          if (this.#tx === null && this.#publisher.inTransaction === 0 && this.#pendingCommits === 0 && item.walEnd > this.#confirmed) {
            // Nothing pending: every transaction committed before walEnd is published
            // (or was filtered out), so the server may recycle WAL up to here.
            this.#confirmed = item.walEnd;
            this.#metrics.confirmedLsn.set(Number(this.#confirmed));
          }
          // Only when the confirmed position moved: in catch-up the server sends keepalives
          // often, and answering each was 8% of the source's CPU (docs/performance.md). The
          // status timer and the replies the server asks for keep it informed otherwise.
          if (this.#confirmed > this.#statusFlushed) this.#sendStatus(false);
          break;
        case 'tick':
          if (this.#pendingCommits > 0) {
            const wait = this.#pendingSince + this.#options.maxDelayMs - Date.now();
            if (wait <= 0) await this.#commitKafka();
            else this.#armDeadline(wait);
          }
          this.#metrics.lagBytes.set(Number(this.#serverEnd > this.#confirmed ? this.#serverEnd - this.#confirmed : 0n));
          break;
        case 'end':
          if (item.error) {
            await this.#publisher.abort().catch(() => undefined);
            throw item.error;
          }
          if (this.#stopping) {
            if (this.#pendingCommits > 0 || this.#publisher.inTransaction > 0) await this.#commitKafka();
            this.#sendStatus(false);
            return;
          }
          break;
      }
    }
  }

  #onMessage(lsn: Lsn, m: PgOutputMessage): Promise<void> | undefined {
    switch (m.tag) {
      case 'begin': {
        const cp = this.#checkpoint;
        const skipAll = m.finalLsn <= cp.commitLsn;
        const skipUpTo = cp.partialFinalLsn !== null && cp.partialFinalLsn === m.finalLsn ? cp.partialPublished : 0n;
        if (skipAll) this.#log.debug({ finalLsn: formatLsn(m.finalLsn) }, 'skipping a transaction published before the restart');
        const commitMs = pgMicrosToUnixMs(m.commitTimeMicros);
        this.#tx = {
          xid: m.xid,
          finalLsn: m.finalLsn,
          commitMicros: m.commitTimeMicros,
          seq: 0n,
          skipAll,
          skipUpTo,
          tsMs: BigInt(Math.floor(commitMs)),
          tsUs: BigInt(Math.floor(commitMs * 1000)),
          txId: BigInt(m.xid),
        };
        if (!skipAll) this.#metrics.lag.received(m.commitTimeMicros);
        return undefined;
      }
      case 'commit': {
        const tx = this.#tx;
        this.#tx = null;
        if (tx) this.#incremental?.onCommit(tx.xid);
        if (!tx || tx.skipAll) return undefined;
        this.#checkpoint = {
          ...this.#checkpoint,
          commitLsn: m.commitLsn,
          endLsn: m.endLsn,
          partialFinalLsn: null,
          partialPublished: 0n,
        };
        this.#lastCommitMicros = m.commitTimeMicros;
        this.#metrics.transactions.inc();
        if (this.#pendingCommits === 0) {
          this.#pendingSince = Date.now();
          this.#armDeadline(this.#options.maxDelayMs);
        }
        this.#pendingCommits++;
        const stateChanged = this.#incremental?.takeDirty() === true;
        if (stateChanged || this.#publisher.inTransaction >= this.#options.maxChanges || this.#pendingBytes >= this.#options.maxBytes || this.#options.maxDelayMs === 0) {
          return this.#commitKafka();
        }
        return undefined;
      }
      case 'relation': {
        const sig = this.#options.signalTable;
        if (sig && m.namespace === sig.schema && m.name === sig.table) {
          this.#signal = { oid: m.relationOid, columns: m.columns.map((c) => c.name) };
          return undefined;
        }
        this.#incremental?.onRelation(m.relationOid);
        return this.#tables.onRelation(m.relationOid, m.columns).then(() => undefined);
      }
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        return then(this.#onChange(lsn, m), this.#changeDone);
      case 'message':
        return this.#onLogicalMessage(lsn, m);
      case 'type':
      case 'origin':
        return undefined;
      default:
        throw new ReplicationError(`unexpected pgoutput message ${m.tag}: walrelay does not enable streaming of in-progress or prepared transactions`);
    }
  }

  /** After a change (published, skipped or refused): the next record is a change's first again. */
  readonly #changeDone = (): void => {
    this.#changeStart = false;
  };

  #onChange(lsn: Lsn, m: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' | 'truncate' }>): Promise<void> | undefined {
    const tx = this.#tx;
    if (!tx) throw new ReplicationError(`pgoutput ${m.tag} outside a transaction at ${formatLsn(lsn)}`);
    tx.seq++;
    if (tx.skipAll || tx.seq <= tx.skipUpTo) {
      this.#metrics.skipped.inc({ reason: 'already_published' });
      return undefined;
    }
    this.#changeStart = true;
    if (m.tag !== 'truncate' && this.#signal && m.relationOid === this.#signal.oid) {
      if (m.tag === 'insert') this.#incremental?.onSignal(this.#signalRow(m.newTuple));
      return undefined;
    }
    if (m.tag === 'truncate') return this.#onTruncate(lsn, tx, m.relationOids).then(this.#afterChange);
    const t = this.#tables.get(m.relationOid);
    if (t === undefined) throw new ReplicationError(`pgoutput ${m.tag} for relation ${m.relationOid} before its Relation message`);
    if (t === null) {
      this.#metrics.skipped.inc({ reason: 'no_key' });
      return this.#afterChange();
    }
    return then(this.#rowChange(t, lsn, tx, m), this.#afterChange);
  }

  /** A large transaction: commit what is published so far, with its position. */
  readonly #afterChange = (): Promise<void> | undefined => {
    if (this.#publisher.inTransaction >= this.#options.maxChanges || this.#pendingBytes >= this.#options.maxBytes) return this.#commitKafka();
    return undefined;
  };

  async #onTruncate(lsn: Lsn, tx: OpenTx, relationOids: readonly number[]): Promise<void> {
    this.#incremental?.onTruncate(relationOids);
    for (const oid of relationOids) {
      const t = this.#tables.get(oid);
      if (!t) continue;
      await this.#addAll(truncateRecords(t, this.#source(t, lsn, tx)));
      this.#metrics.changes.inc({ table: `${t.schema}.${t.table}`, op: 't' });
    }
  }

  #rowChange(t: CapturedTable, lsn: Lsn, tx: OpenTx, m: Extract<PgOutputMessage, { tag: 'insert' | 'update' | 'delete' }>): Promise<void> | undefined {
    const window = this.#incremental?.watching(t.relationOid) ? this.#incremental : undefined;
    if (m.tag === 'insert') window?.onRowChange(t.relationOid, tupleKey(t, m.newTuple));
    if (m.tag !== 'insert' && m.oldTuple) window?.onRowChange(t.relationOid, tupleKey(t, m.oldTuple));
    const source = this.#source(t, lsn, tx);
    const table = this.#tableLabel(t);
    if (m.tag === 'insert') {
      const after = this.#row(t, m.newTuple, null);
      return this.#counted(this.#addAll(changeRecords(t, { op: 'c', before: null, after: after.row, unchanged: after.unchanged, source }, this.#options.tombstones)), table, 'c');
    }
    if (m.tag === 'delete') {
      const before = this.#row(t, m.oldTuple, null);
      return this.#counted(this.#addAll(changeRecords(t, { op: 'd', before: before.row, after: null, unchanged: [], source }, this.#options.tombstones)), table, 'd');
    }
    const old = m.oldTuple ? this.#row(t, m.oldTuple, null) : null;
    // With REPLICA IDENTITY FULL the old tuple has every column: unchanged TOAST values come from it.
    const after = this.#row(t, m.newTuple, m.oldKind === 'old' && old ? old.row : null);
    // An update inside a snapshot chunk's window: the columns it left out (unchanged TOAST) may
    // still come from the chunk (incremental.ts, Window.toastOnly).
    window?.onRowChange(t.relationOid, tupleKey(t, m.newTuple), after.unchanged);
    // The key changed (pgoutput sends the old key; under REPLICA IDENTITY FULL the old row, whose
    // key may differ from the new one's): a delete of the old key (and its tombstone), then a
    // create of the new — an update keyed by the new key alone would leave the old row in targets.
    if (old && (m.oldKind === 'key' || !sameKey(t, old.row, after.row))) {
      // The new row left TOAST values out (only under a replica identity that is not FULL):
      // nothing in the stream holds them for the new key, so the table is read again.
      if (after.unchanged.length > 0) this.#rereadAfterKeyChange(t, after.unchanged);
      const oldRow = old.row;
      return then(
        then(this.#addAll(changeRecords(t, { op: 'd', before: oldRow, after: null, unchanged: [], source }, this.#options.tombstones)), () =>
          this.#addAll(changeRecords(t, { op: 'c', before: null, after: after.row, unchanged: after.unchanged, source }, this.#options.tombstones)),
        ),
        () => {
          // Both counted once both are added, as one change.
          this.#metrics.counts.change(table, 'd');
          this.#metrics.counts.change(table, 'c');
        },
      );
    }
    return this.#counted(this.#addAll(changeRecords(t, { op: 'u', before: old?.row ?? null, after: after.row, unchanged: after.unchanged, source }, this.#options.tombstones)), table, 'u');
  }

  /** Counts a change once its records are added (a closure only when adding them has to wait). */
  #counted(waiting: Promise<void> | undefined, table: string, op: 'c' | 'u' | 'd'): Promise<void> | undefined {
    const counts = this.#metrics.counts;
    if (waiting === undefined) {
      counts.change(table, op);
      return undefined;
    }
    return waiting.then(() => counts.change(table, op));
  }

  /**
   * An update that changed a row's key and left TOAST values out: the create of the new key
   * names them in `unchanged_toast` (targets deleted the old row, so they cannot keep them),
   * and the only place their values still exist is the table. An incremental snapshot of the
   * table, queued in stream order and durable with this transaction's checkpoint, publishes
   * the row as it is now (DBLog's watermarks order it after this change). Never silent: a
   * warning names the table and the columns (once per queued re-read), and without incremental
   * snapshots the change is refused.
   */
  #rereadAfterKeyChange(t: CapturedTable, columns: readonly string[]): void {
    const table = this.#tableLabel(t);
    if (!this.#incremental) {
      throw new ReplicationError(
        `${table}: an update changed a row's key and left the TOAST value(s) of ${columns.join(', ')} out (its replica identity is not FULL); the new row's value exists only in the table, and incremental snapshots, which would read it again, are not running. Set ALTER TABLE ${table} REPLICA IDENTITY FULL so updates carry those values`,
      );
    }
    if (this.#incremental.requestFromStream([{ schema: t.schema, table: t.table }], 'toast_key_change')) {
      this.#log.warn(
        { table, columns },
        `an update changed a row's key and left TOAST values out: ${table} is read again through an incremental snapshot to carry them (the new row has them only once it is published); ALTER TABLE … REPLICA IDENTITY FULL makes updates carry them instead`,
      );
    }
  }

  /** The `table` label of the change counter, made once per captured table (not per change). */
  readonly #tableLabels = new WeakMap<CapturedTable, string>();
  #tableLabel(t: CapturedTable): string {
    let label = this.#tableLabels.get(t);
    if (label === undefined) this.#tableLabels.set(t, (label = `${t.schema}.${t.table}`));
    return label;
  }

  /** A logical message inside a published transaction: the incremental snapshots' watermarks. */
  async #onLogicalMessage(lsn: Lsn, m: Extract<PgOutputMessage, { tag: 'message' }>): Promise<void> {
    const tx = this.#tx;
    if (!this.#incremental || !m.transactional || !tx || tx.skipAll) return;
    const emission = this.#incremental.onMessage(m.prefix, m.content);
    if (!emission) return;
    const t = emission.table;
    const source: SourceBlock = { ...this.#source(t, lsn, tx), snapshot: 'incremental', tx_seq: null };
    for (const after of emission.rows) {
      await this.#addAll(changeRecords(t, { op: 'r', before: null, after, unchanged: [], source }, false));
    }
    // Rows the stream updated inside the window without their TOAST values: the chunk's values of those columns only.
    for (const p of emission.partial) {
      await this.#addAll(changeRecords(t, { op: 'r', before: null, after: p.row, unchanged: p.unchanged, source }, false));
    }
    this.#metrics.changes.inc({ table: `${t.schema}.${t.table}`, op: 'r' }, emission.rows.length + emission.partial.length);
  }

  #signalRow(tuple: readonly TupleValue[]): Record<string, string | null> {
    const row: Record<string, string | null> = {};
    this.#signal?.columns.forEach((name, i) => {
      const v = tuple[i];
      row[name] = v && v.kind === 'text' ? v.value : null;
    });
    return row;
  }

  #row(t: CapturedTable, tuple: readonly TupleValue[], fill: RowImage | null): { row: RowImage; unchanged: readonly string[] } {
    const row: RowImage = {};
    /** Made only for a row that left a TOAST value out (most rows share NONE_UNCHANGED). */
    let unchanged: string[] | undefined;
    const n = Math.min(tuple.length, t.columns.length);
    for (let i = 0; i < t.columns.length; i++) {
      const c = t.columns[i]!;
      const v = i < n ? tuple[i]! : ({ kind: 'null' } as TupleValue);
      switch (v.kind) {
        case 'text':
          row[c.field] = t.converters[i]!(v.value);
          break;
        case 'null':
          row[c.field] = null;
          break;
        case 'unchanged':
          if (fill && fill[c.field] !== undefined) {
            row[c.field] = fill[c.field];
          } else {
            row[c.field] = null;
            (unchanged ??= []).push(c.field);
          }
          break;
        case 'binary':
          throw new ReplicationError(`binary tuple value for ${t.schema}.${t.table}.${c.name}: walrelay requests text values`);
      }
    }
    return { row, unchanged: unchanged ?? NONE_UNCHANGED };
  }

  /** The last committed LSN as the sequence's first element (`["<lsn>","`), made once per value, not per change. */
  #sequenceHead: { lsn: Lsn; text: string } | undefined;

  /**
   * Debezium's `sequence`: the JSON array of the last committed LSN and this change's LSN, as
   * decimal strings (the same text `JSON.stringify([a.toString(), b.toString()])` writes: digits
   * need no escaping).
   */
  #sequence(lsn: Lsn): string {
    const committed = this.#checkpoint.commitLsn;
    let head = this.#sequenceHead;
    if (head === undefined || head.lsn !== committed) this.#sequenceHead = head = { lsn: committed, text: `["${committed}","` };
    return `${head.text}${lsn}"]`;
  }

  #source(t: CapturedTable, lsn: Lsn, tx: OpenTx): SourceBlock {
    return {
      version: this.#options.version,
      connector: 'postgresql',
      name: this.#options.connectorName,
      ts_ms: tx.tsMs,
      ts_us: tx.tsUs,
      snapshot: 'false',
      db: this.#options.database,
      sequence: this.#sequence(lsn),
      schema: t.schema,
      table: t.table,
      txId: tx.txId,
      lsn,
      commit_lsn: tx.finalLsn,
      tx_seq: tx.seq,
      xmin: null,
    };
  }

  /** Adds `records` from index `i` on, in order; a promise only when one of them has to wait. */
  #addAll(records: readonly OutRecord[], i = 0): Promise<void> | undefined {
    for (; i < records.length; i++) {
      const waiting = this.#add(records[i]!);
      if (waiting) {
        const next = i + 1;
        return next < records.length ? waiting.then(() => this.#addAll(records, next)) : waiting;
      }
    }
    return undefined;
  }

  #add(r: OutRecord): Promise<void> | undefined {
    return this.#publisher.fitsAlone(r) ? this.#addFitting(r) : this.#addChecked(r);
  }

  /** A record whose topic's limit is not known yet, or that may be above it: asks the publisher first. */
  async #addChecked(r: OutRecord): Promise<void> {
    const refused = await this.#publisher.refusal(r);
    if (refused) {
      // Stop exactly at this change: commit what precedes it (earlier transactions, and the
      // earlier changes of this one with their position), so only the refused change and
      // what follows wait. Only at a change's first record: a change is never half published.
      const tx = this.#tx;
      if (tx && this.#changeStart && tx.seq > 0n) {
        tx.seq--;
        if (this.#publisher.inTransaction > 0 || this.#pendingCommits > 0) await this.#commitKafka();
      }
      throw refused;
    }
    const waiting = this.#addFitting(r);
    if (waiting) await waiting;
  }

  #addFitting(r: OutRecord): Promise<void> | undefined {
    this.#changeStart = false;
    const bytes = (r.key?.length ?? 0) + (r.value?.length ?? 0);
    this.#pendingBytes += bytes;
    this.#metrics.counts.bytes(bytes);
    if (this.#publisher.inTransaction === 0 && this.#pendingCommits === 0) this.#pendingSince = Date.now();
    return this.#publisher.add(r);
  }

  /** Commits the Kafka transaction with the checkpoint, then confirms to PostgreSQL. */
  async #commitKafka(): Promise<void> {
    const tx = this.#tx;
    const base: SourceCheckpoint = this.#incremental ? { ...this.#checkpoint, ...this.#incremental.checkpointFields() } : this.#checkpoint;
    const checkpoint: SourceCheckpoint =
      tx && !tx.skipAll && tx.seq > 0n
        ? { ...base, partialFinalLsn: tx.finalLsn, partialPublished: tx.seq > tx.skipUpTo ? tx.seq : tx.skipUpTo }
        : { ...base, partialFinalLsn: null, partialPublished: 0n };
    await this.#publisher.commit(checkpoint);
    this.#checkpoint = checkpoint;
    this.#incremental?.afterCommit();
    this.#metrics.kafkaTransactions.inc();
    if (this.#pendingCommits > 0 && this.#lastCommitMicros > 0n) {
      this.#metrics.commitLatency.observe(Math.max(0, (Date.now() - pgMicrosToUnixMs(this.#lastCommitMicros)) / 1000));
    }
    this.#metrics.lag.confirmed(tx && !tx.skipAll ? tx.commitMicros : null);
    this.#pendingCommits = 0;
    this.#pendingBytes = 0;
    if (checkpoint.endLsn > this.#confirmed) {
      this.#confirmed = checkpoint.endLsn;
      this.#metrics.confirmedLsn.set(Number(this.#confirmed));
      this.#sendStatus(false);
    }
  }

  #sendStatus(replyRequested: boolean): void {
    try {
      this.#statusFlushed = this.#confirmed;
      this.#repl.sendStatus(this.#received > this.#confirmed ? this.#received : this.#confirmed, this.#confirmed, replyRequested);
    } catch (e) {
      this.#log.warn({ err: errorMessage(e) }, 'could not send a standby status update');
    }
  }
}

/** `next` after `waiting` (at once when nothing waits); a promise only when something waited. */
function then(waiting: Promise<void> | undefined, next: () => Promise<void> | void | undefined): Promise<void> | undefined {
  if (waiting === undefined) return next() ?? undefined;
  return waiting.then(next);
}

function quoteList(publication: string): string {
  // publication_names is a comma-separated list of identifiers; quote ours.
  return `"${publication.replace(/"/g, '""')}"`;
}

/** The key of a row change as the JSON of its key columns' text values (the incremental snapshot's window key). */
function tupleKey(t: CapturedTable, tuple: readonly TupleValue[]): string {
  return JSON.stringify(t.keyIndexes.map((i) => {
    const v = tuple[i];
    return v && v.kind === 'text' ? v.value : null;
  }));
}

/** Whether two row images have the same key (compared as the key's Avro encoding: exact for every kind). */
function sameKey(t: CapturedTable, a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return encodeAvro(t.keyType, keyImage(t, a)).equals(encodeAvro(t.keyType, keyImage(t, b)));
}
