import { ApplyError, ConfigError, ConnectionError, errorMessage, onIdleMemoryRelease, type Logger, type SchemaColumn } from '@walrelay/core';
import { checkFence, chunkSizes, lsnFromSigned, lsnToSigned, StaleBatchError, type ApplyBatch, type StoredOffset, type TableOwner, type TargetDriver, type TargetTable } from '@walrelay/sink';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { classifySqliteError } from './errors.js';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_OWNERS_TABLE,
  claimTableSql,
  ownersTableSql,
  tableOwnerSql,
  EXISTING_COLUMNS_SQL,
  EXTRA_UNIQUE_INDEXES_SQL,
  PRIMARY_KEY_SQL,
  SQLITE_MAX_VARIABLES,
  addColumnSql,
  createTableSql,
  deleteSql,
  fenceSql,
  loadOffsetsSql,
  offsetsTableSql,
  quoteIdent,
  saveOffsetsSql,
  truncateSql,
  upsertSql,
} from './sql.js';
import { sqlitePath } from './url.js';
import { sqliteParam } from './values.js';

/** The page cache per connection unless target.cacheSizeKiB says otherwise (see SqliteTargetOptions.cacheSizeKiB). */
export const DEFAULT_PAGE_CACHE_KIB = 4096;

export interface SqliteTargetOptions {
  /** A file path, `sqlite:///abs/path`, `sqlite:relative/path`, or `:memory:` (tests). */
  readonly url: string;
  /** How long a write waits for another process's lock before SQLITE_BUSY (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** Rows per INSERT / keys per DELETE at most (default 500; also bounded by 32,766 parameters). */
  readonly maxRowsPerStatement?: number;
  /** Prepared statements kept (default 256, least recently used dropped first). */
  readonly statementCacheSize?: number;
  /**
   * The connection's page cache in KiB (default DEFAULT_PAGE_CACHE_KIB; better-sqlite3's build
   * would give 16 MB, SQLite's own default is 2 MB). Session 12 (docs/performance.md): 4 MB
   * instead of 16 MB cut the sink's peak by ≈20 MB at the same CPU per row on the bench; in the
   * driver alone, random upserts ran at the same rate into tables of 39 and 131 MB and 20% slower
   * into one of 13 MB (which a 16 MB cache holds whole).
   */
  readonly cacheSizeKiB?: number;
  /** Name of the offsets table (default walrelay_offsets). */
  readonly offsetsTable?: string;
  /** Name of the table owners table (default walrelay_table_owners). */
  readonly ownersTable?: string;
}
interface BatchStatement {
  readonly sql: string;
  readonly params: unknown[];
}

/** SQLite file target on better-sqlite3 (synchronous; WAL, synchronous=FULL). */
export class SqliteTarget implements TargetDriver {
  readonly dialect = 'sqlite';
  private db: SqliteDatabase | undefined;
  private readonly path: string;
  private readonly offsetsTable: string;
  private readonly ownersTable: string;
  private readonly maxRows: number;
  private readonly cacheSize: number;
  private readonly pageCacheKiB: number;
  private readonly statements = new Map<string, Statement>();
  /** Removes this connection's idle release (set while connected). */
  private stopIdleRelease: (() => void) | undefined;

  constructor(
    private readonly options: SqliteTargetOptions,
    private readonly log?: Logger,
  ) {
    this.path = sqlitePath(options.url);
    this.offsetsTable = options.offsetsTable ?? DEFAULT_OFFSETS_TABLE;
    quoteIdent(this.offsetsTable);
    this.ownersTable = options.ownersTable ?? DEFAULT_OWNERS_TABLE;
    quoteIdent(this.ownersTable);
    this.maxRows = options.maxRowsPerStatement ?? 500;
    this.cacheSize = options.statementCacheSize ?? 256;
    this.pageCacheKiB = options.cacheSizeKiB ?? DEFAULT_PAGE_CACHE_KIB;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new ConfigError('maxRowsPerStatement must be a positive integer');
    if (!Number.isInteger(this.pageCacheKiB) || this.pageCacheKiB < 1) throw new ConfigError(`target.cacheSizeKiB must be a positive integer of KiB, got ${String(options.cacheSizeKiB)}`);
  }

  /** The open database (for tests and tools). */
  get database(): SqliteDatabase {
    if (!this.db) throw new ConnectionError('sqlite', 'not connected (call connect() first)', { retriable: false });
    return this.db;
  }

  async connect(): Promise<void> {
    if (this.db) return;
    let db: SqliteDatabase | undefined;
    try {
      db = new Database(this.path);
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.options.busyTimeoutMs ?? 5000))}`);
      if (this.path !== ':memory:') {
        const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
        if (mode.toLowerCase() !== 'wal') throw new ApplyError(`could not switch ${this.path} to WAL mode (journal_mode is ${mode})`);
      }
      // WAL defaults to NORMAL, which may lose the last commits (and offsets) on power loss.
      db.pragma('synchronous = FULL');
      // Negative: the size in KiB, whatever the page size.
      db.pragma(`cache_size = -${this.pageCacheKiB}`);
    } catch (error) {
      db?.close();
      const code = (error as { code?: unknown }).code;
      throw new ConnectionError('sqlite', `cannot open ${this.path}: ${errorMessage(error)}`, {
        cause: error,
        retriable: code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED',
      });
    }
    this.db = db;
    this.stopIdleRelease = onIdleMemoryRelease(() => this.releaseIdleMemory());
    this.log?.info({ path: this.path, sqlite: db.prepare('SELECT sqlite_version() AS v').pluck().get() }, 'sqlite target opened');
  }

  /**
   * When the process goes idle (core's idle memory release, before its collection and
   * `malloc_trim`): drops the prepared statements — multi-row statements are the largest part of
   * this sink's malloc memory; the collection finalizes them — and SQLite's page cache of the
   * connection (`shrink_memory`). Both are rebuilt on the next batch. Nothing runs on the
   * connection in between: this is called on the event loop, and an apply is synchronous.
   */
  releaseIdleMemory(): void {
    const db = this.db;
    if (!db) return;
    this.statements.clear();
    db.pragma('shrink_memory');
  }

  async close(): Promise<void> {
    this.stopIdleRelease?.();
    this.stopIdleRelease = undefined;
    this.statements.clear();
    const db = this.db;
    this.db = undefined;
    db?.close();
  }

  private statement(sql: string): Statement {
    let s = this.statements.get(sql);
    if (s) {
      this.statements.delete(sql); // refresh LRU position
    } else {
      s = this.database.prepare(sql);
      if (this.statements.size >= this.cacheSize) {
        const oldest = this.statements.keys().next().value;
        if (oldest !== undefined) this.statements.delete(oldest);
      }
    }
    this.statements.set(sql, s);
    return s;
  }

  private run<T>(context: string, fn: (db: SqliteDatabase) => T): T {
    try {
      return fn(this.database);
    } catch (error) {
      if (error instanceof StaleBatchError) throw error;
      throw classifySqliteError(error, context);
    }
  }

  async ensureOffsetsTable(): Promise<void> {
    this.run(`create ${this.offsetsTable}`, (db) => db.exec(offsetsTableSql(this.offsetsTable)));
    this.run(`create ${this.ownersTable}`, (db) => db.exec(ownersTableSql(this.ownersTable)));
  }

  async claimTable(owner: TableOwner): Promise<TableOwner> {
    return this.run(`claim target table ${owner.table}`, (db) =>
      db.transaction(() => {
        db.prepare(claimTableSql(this.ownersTable)).run(owner.table, owner.topic, owner.source);
        return this.ownerRow(db, owner.table) as TableOwner;
      }).immediate(),
    );
  }

  async tableOwner(table: string): Promise<TableOwner | null> {
    return this.run(`owner of target table ${table}`, (db) => this.ownerRow(db, table));
  }

  private ownerRow(db: SqliteDatabase, table: string): TableOwner | null {
    const row = db.prepare(tableOwnerSql(this.ownersTable)).get(table) as { target_table: string; topic: string; source_table: string } | undefined;
    return row ? { table: row.target_table, topic: row.topic, source: row.source_table } : null;
  }

  async loadOffsets(groupId: string): Promise<StoredOffset[]> {
    const rows = this.run(`load offsets of group ${groupId}`, (db) =>
      db.prepare(loadOffsetsSql(this.offsetsTable)).safeIntegers(true).all(groupId),
    ) as Array<{ topic: string; kafka_partition: bigint; next_offset: bigint; source_lsn: bigint | null }>;
    return rows.map((r) => ({
      groupId,
      topic: r.topic,
      partition: Number(r.kafka_partition),
      nextOffset: r.next_offset,
      sourceLsn: lsnFromSigned(r.source_lsn),
    }));
  }

  async existingColumns(table: string): Promise<string[] | null> {
    const names = this.run(`columns of ${table}`, (db) => db.prepare(EXISTING_COLUMNS_SQL).pluck().all(table)) as string[];
    return names.length === 0 ? null : names;
  }

  async createTable(table: TargetTable): Promise<void> {
    const sql = createTableSql(table.name, table.shape);
    this.run(`create table ${table.name}`, (db) => db.exec(sql));
    this.log?.info({ table: table.name }, 'sqlite: created table');
  }

  async addColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<void> {
    const existing = new Set((await this.existingColumns(table.name)) ?? []);
    const missing = columns.filter((c) => !existing.has(c.name));
    if (missing.length === 0) return;
    const sqls = missing.map((c) => addColumnSql(table.name, c));
    this.run(`add columns to ${table.name}`, (db) => db.transaction(() => sqls.forEach((s) => db.exec(s))).immediate());
    this.statements.clear(); // statements prepared against the old shape
    this.log?.info({ table: table.name, columns: missing.map((c) => c.name) }, 'sqlite: added columns');
  }

  async renameColumn(table: string, from: string, to: string): Promise<void> {
    const sql = `ALTER TABLE ${quoteIdent(table)} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`;
    this.run(`rename column ${from} of ${table} to ${to}`, (db) => db.exec(sql));
    this.statements.clear(); // statements prepared against the old names
    this.log?.info({ table, from, to }, 'sqlite: renamed column');
  }

  /**
   * Nothing to widen: SQLite's declared types are affinities (INTEGER holds 64-bit integers,
   * REAL doubles, TEXT any length), and walrelay gives every kind of a widening family the
   * same one (sql.ts columnType).
   */
  async widenColumns(_table: TargetTable, _columns: readonly SchemaColumn[]): Promise<string[]> {
    return Promise.resolve([]);
  }

  async primaryKey(table: string): Promise<string[]> {
    return this.run(`primary key of ${table}`, (db) => db.prepare(PRIMARY_KEY_SQL).pluck().all(table)) as string[];
  }

  async extraUniqueIndexes(table: string): Promise<string[]> {
    return this.run(`indexes of ${table}`, (db) => db.prepare(EXTRA_UNIQUE_INDEXES_SQL).pluck().all(table)) as string[];
  }

  /** The statements of a batch, values converted and checked before anything runs. */
  buildStatements(batch: ApplyBatch): BatchStatement[] {
    const table = batch.table.name;
    const out: BatchStatement[] = [];
    for (const step of batch.steps) {
      if (step.kind === 'truncate') {
        out.push({ sql: truncateSql(table), params: [] });
        continue;
      }
      const columns = step.columns;
      const rows = step.kind === 'upsert' ? step.rows : step.keys;
      if (rows.length === 0) continue;
      const perStatement = Math.max(1, Math.min(this.maxRows, Math.floor(SQLITE_MAX_VARIABLES / Math.max(1, columns.length))));
      let at = 0;
      for (const size of chunkSizes(rows.length, perStatement)) {
        const params: unknown[] = new Array<unknown>(size * columns.length);
        let p = 0;
        for (let r = at; r < at + size; r++) {
          const row = rows[r]!;
          for (let i = 0; i < columns.length; i++) params[p++] = sqliteParam(columns[i]!, row[i], table);
        }
        at += size;
        out.push({ sql: step.kind === 'upsert' ? upsertSql(table, columns, size) : deleteSql(table, columns, size), params });
      }
    }
    if (batch.offsets.length > 0) {
      const params: unknown[] = [];
      for (const o of batch.offsets) params.push(o.groupId, o.topic, o.partition, o.nextOffset, lsnToSigned(o.sourceLsn));
      out.push({ sql: saveOffsetsSql(batch.offsets.length, this.offsetsTable), params });
    }
    return out;
  }

  async apply(batch: ApplyBatch): Promise<void> {
    const statements = this.buildStatements(batch);
    if (statements.length === 0) return;
    this.run(`apply to ${batch.table.name}`, (db) =>
      // IMMEDIATE takes the write lock up front: no SQLITE_BUSY half-way through the batch.
      db
        .transaction(() => {
          for (const o of batch.offsets) {
            if (o.expectedFrom === undefined) continue;
            const row = this.statement(fenceSql(this.offsetsTable))
              .safeIntegers(true)
              .get(o.groupId, o.topic, o.partition) as { n: bigint } | undefined;
            checkFence(o, row ? row.n : null);
          }
          for (const s of statements) this.statement(s.sql).run(...s.params);
        })
        .immediate(),
    );
  }
}
