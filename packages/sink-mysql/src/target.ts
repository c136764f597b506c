import { ApplyError, ConfigError, ConnectionError, ValueError, type Logger, type SchemaColumn } from '@walrelay/core';
import { checkFence, needsWidening, lsnFromSigned, lsnToSigned, StaleBatchError, type ApplyBatch, type StoredOffset, type TableOwner, type TargetDriver, type TargetTable } from '@walrelay/sink';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_OWNERS_TABLE,
  claimTableSql,
  ownersTableSql,
  tableOwnerSql,
  EXISTING_COLUMNS_SQL,
  COLUMN_TYPES_SQL,
  modifyColumnsSql,
  renameColumnSql,
  tableColumnDefs,
  varcharAsText,
  EXTRA_UNIQUE_INDEXES_SQL,
  PRIMARY_KEY_SQL,
  SESSION_SQL,
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
import { classifyMysqlError, isConnectionLoss, scrub } from './errors.js';
import { parseMysqlUrl, type MysqlTlsOptions, type ParsedMysqlUrl } from './url.js';
import { escapedSize, mysqlParam } from './values.js';

/**
 * mysql2's caches allocate their whole capacity up front (lru.min: four arrays of `max` slots):
 * 15,000 result parsers per process and 16,000 prepared statements per pooled connection, ≈0.5 MB
 * each, resident for the life of the process. walrelay sends text queries only (no prepared
 * statements) and reads the results of a handful of fixed queries.
 */
const PARSER_CACHE = 64;
const PREPARED_STATEMENTS = 16;
const setMaxParserCache = (mysql as unknown as { setMaxParserCache: (max: number) => void }).setMaxParserCache;

export interface MysqlTargetOptions {
  /** mysql://user:pass@host:3306/db?ssl=true&ssl-ca=/path/ca.pem&ssl-reject-unauthorized=false */
  readonly url: string;
  /** TLS; overrides the URL's ssl parameters. `true` = TLS with the system CAs. */
  readonly ssl?: MysqlTlsOptions | boolean;
  /** Connections in the pool (default 4). */
  readonly poolSize?: number;
  /** Connect timeout in ms (default 10000). */
  readonly connectTimeoutMs?: number;
  /** Rows per INSERT / keys per DELETE at most (default 1000); statements are also sized by max_allowed_packet. */
  readonly maxRowsPerStatement?: number;
  /** Name of the offsets table (default walrelay_offsets). */
  readonly offsetsTable?: string;
  /** Name of the table owners table (default walrelay_table_owners). */
  readonly ownersTable?: string;
}
interface BatchStatement {
  readonly sql: string;
  readonly params: unknown[];
}

/** MySQL 8 / MariaDB 10.x target on mysql2's promise pool. */
export class MysqlTarget implements TargetDriver {
  readonly dialect = 'mysql';
  private pool: Pool | undefined;
  private readonly parsed: ParsedMysqlUrl;
  private readonly offsetsTable: string;
  private readonly ownersTable: string;
  /** Whether the server folds table names to lower case (lower_case_table_names > 0), read at the first claim. */
  private foldsNames: boolean | undefined;
  private readonly maxRows: number;
  private maxPacket = 4 * 1024 * 1024;
  private serverVersion = '';

  constructor(
    private readonly options: MysqlTargetOptions,
    private readonly log?: Logger,
  ) {
    this.parsed = parseMysqlUrl(options.url);
    this.offsetsTable = options.offsetsTable ?? DEFAULT_OFFSETS_TABLE;
    quoteIdent(this.offsetsTable);
    this.ownersTable = options.ownersTable ?? DEFAULT_OWNERS_TABLE;
    quoteIdent(this.ownersTable);
    this.maxRows = options.maxRowsPerStatement ?? 1000;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new ConfigError('maxRowsPerStatement must be a positive integer');
  }

  /** Server version string, once connected (e.g. 10.11.6-MariaDB). */
  get version(): string {
    return this.serverVersion;
  }

  private tls(): PoolOptions['ssl'] {
    const ssl = this.options.ssl ?? this.parsed.ssl;
    if (ssl === undefined || ssl === false) return undefined;
    if (ssl === true) return { rejectUnauthorized: true };
    return { ...ssl };
  }

  async connect(): Promise<void> {
    if (this.pool) return;
    const p = this.parsed;
    setMaxParserCache(PARSER_CACHE);
    const pool = mysql.createPool({
      host: p.host,
      port: p.port,
      user: p.user,
      password: p.password,
      database: p.database,
      ssl: this.tls(),
      charset: 'UTF8MB4_BIN',
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      multipleStatements: false,
      connectionLimit: this.options.poolSize ?? 4,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      enableKeepAlive: true,
      waitForConnections: true,
      maxPreparedStatements: PREPARED_STATEMENTS,
    });
    // Every new connection gets the session settings before anything else runs on it
    // (commands on one connection run in order). A failure makes the connection unusable.
    pool.pool.on('connection', (conn) => {
      for (const sql of SESSION_SQL) {
        conn.query(sql, (error: unknown) => {
          if (error) {
            this.log?.error({ err: scrub(String(error), p.password) }, 'mysql: session setup failed; dropping the connection');
            conn.destroy();
          }
        });
      }
    });
    let conn: PoolConnection | undefined;
    try {
      conn = await pool.getConnection();
      const [rows] = await conn.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS packet, VERSION() AS version, @@sql_mode AS mode');
      const row = rows[0];
      this.maxPacket = Number(row?.['packet'] ?? this.maxPacket);
      this.serverVersion = String(row?.['version'] ?? '');
      if (!String(row?.['mode'] ?? '').includes('STRICT_ALL_TABLES')) throw new ApplyError('session sql_mode was not applied (STRICT_ALL_TABLES missing)');
    } catch (error) {
      conn?.release();
      await pool.end().catch(() => undefined);
      const e = classifyMysqlError(error, `cannot connect to ${p.host}:${p.port}/${p.database} as ${p.user}`, p.password);
      throw e instanceof ConnectionError ? e : new ConnectionError('mysql', e.message, { cause: error, retriable: e.retriable });
    }
    conn.release();
    this.pool = pool;
    this.log?.info({ host: p.host, port: p.port, database: p.database, version: this.serverVersion, maxAllowedPacket: this.maxPacket }, 'mysql target connected');
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  private requirePool(): Pool {
    if (!this.pool) throw new ConnectionError('mysql', 'not connected (call connect() first)', { retriable: false });
    return this.pool;
  }

  private async run<T>(context: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.requirePool());
    } catch (error) {
      throw classifyMysqlError(error, context, this.parsed.password);
    }
  }

  async ensureOffsetsTable(): Promise<void> {
    await this.run(`create ${this.offsetsTable}`, (pool) => pool.query(offsetsTableSql(this.offsetsTable)));
    await this.run(`create ${this.ownersTable}`, (pool) => pool.query(ownersTableSql(this.ownersTable)));
  }

  async claimTable(owner: TableOwner): Promise<TableOwner> {
    const table = await this.claimKey(owner.table);
    await this.run(`claim target table ${owner.table}`, (pool) => pool.query(claimTableSql(this.ownersTable), [table, owner.topic, owner.source]));
    const holder = await this.tableOwner(owner.table);
    if (!holder) throw new ApplyError(`the claim of target table ${owner.table} in ${this.ownersTable} was not stored`);
    return holder;
  }

  async tableOwner(table: string): Promise<TableOwner | null> {
    const key = await this.claimKey(table);
    const [rows] = await this.run(`owner of target table ${table}`, (pool) => pool.query<RowDataPacket[]>(tableOwnerSql(this.ownersTable), [key]));
    const r = rows[0];
    return r ? { table: String(r['target_table']), topic: String(r['topic']), source: String(r['source_table']) } : null;
  }

  /** A table name as the server compares it: lower-cased where lower_case_table_names folds names. */
  private async claimKey(table: string): Promise<string> {
    if (this.foldsNames === undefined) {
      const [rows] = await this.run('read lower_case_table_names', (pool) => pool.query<RowDataPacket[]>('SELECT @@lower_case_table_names AS n'));
      this.foldsNames = Number(rows[0]?.['n'] ?? 0) > 0;
    }
    return this.foldsNames ? table.toLowerCase() : table;
  }

  async loadOffsets(groupId: string): Promise<StoredOffset[]> {
    const [rows] = await this.run(`load offsets of group ${groupId}`, (pool) =>
      pool.query<RowDataPacket[]>(loadOffsetsSql(this.offsetsTable), [groupId]),
    );
    return rows.map((r) => ({
      groupId,
      topic: String(r['topic']),
      partition: Number(r['kafka_partition']),
      nextOffset: BigInt(String(r['next_offset'])),
      sourceLsn: r['source_lsn'] === null ? null : lsnFromSigned(BigInt(String(r['source_lsn']))),
    }));
  }

  async existingColumns(table: string): Promise<string[] | null> {
    quoteIdent(table);
    const [rows] = await this.run(`columns of ${table}`, (pool) => pool.query<RowDataPacket[]>(EXISTING_COLUMNS_SQL, [table]));
    return rows.length === 0 ? null : rows.map((r) => String(r['name']));
  }

  async createTable(table: TargetTable): Promise<void> {
    const sql = createTableSql(table.name, table.shape);
    await this.run(`create table ${table.name}`, (pool) => pool.query(sql));
    this.log?.info({ table: table.name }, 'mysql: created table');
  }

  async addColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<void> {
    const existing = new Set((await this.existingColumns(table.name)) ?? []);
    const missing = columns.filter((c) => !existing.has(c.name));
    if (missing.length === 0) return;
    try {
      await this.run(`add columns to ${table.name}`, (pool) => pool.query(addColumnSql(table.name, missing)));
    } catch (error) {
      // Row size too large (1118): the new VARCHARs do not fit in the row; TEXT types are stored off-row.
      if ((error as { details?: { errno?: number } }).details?.errno !== 1118) throw error;
      await this.run(`add columns to ${table.name}`, (pool) => pool.query(addColumnSql(table.name, missing, true)));
    }
    this.log?.info({ table: table.name, columns: missing.map((c) => c.name) }, 'mysql: added columns');
  }

  async renameColumn(table: string, from: string, to: string): Promise<void> {
    await this.run(`rename column ${from} of ${table} to ${to}`, (pool) => pool.query(renameColumnSql(table, from, to)));
    this.log?.info({ table, from, to }, 'mysql: renamed column');
  }

  async widenColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<string[]> {
    const [rows] = await this.run(`column types of ${table.name}`, (pool) => pool.query<RowDataPacket[]>(COLUMN_TYPES_SQL, [table.name]));
    const current = new Map(rows.map((r) => [String(r['name']), { type: String(r['type']), nullable: String(r['nullable']) === 'YES' }]));
    const wanted = new Map(tableColumnDefs(table.shape).map((d) => [d.column.name, d.sqlType]));
    const changes = columns.flatMap((c) => {
      const have = current.get(c.name);
      const want = wanted.get(c.name);
      return have && want && needsWidening(have.type, want) ? [{ name: c.name, sqlType: want, nullable: have.nullable }] : [];
    });
    if (changes.length === 0) return [];
    try {
      await this.run(`widen columns of ${table.name}`, (pool) => pool.query(modifyColumnsSql(table.name, changes)));
    } catch (error) {
      // Row size too large (1118): wider VARCHARs do not fit in the row; TEXT types are stored off-row.
      if ((error as { details?: { errno?: number } }).details?.errno !== 1118) throw error;
      const asText = changes.map((c) => ({ ...c, sqlType: varcharAsText(c.sqlType) }));
      await this.run(`widen columns of ${table.name}`, (pool) => pool.query(modifyColumnsSql(table.name, asText)));
    }
    this.log?.info({ table: table.name, columns: changes.map((c) => `${c.name} ${c.sqlType}`) }, 'mysql: widened columns');
    return changes.map((c) => c.name);
  }

  async primaryKey(table: string): Promise<string[]> {
    const [rows] = await this.run(`primary key of ${table}`, (pool) => pool.query<RowDataPacket[]>(PRIMARY_KEY_SQL, [table]));
    return rows.map((r) => String(r['name']));
  }

  async extraUniqueIndexes(table: string): Promise<string[]> {
    const [rows] = await this.run(`indexes of ${table}`, (pool) => pool.query<RowDataPacket[]>(EXTRA_UNIQUE_INDEXES_SQL, [table]));
    return rows.map((r) => String(r['name']));
  }

  /** The statements of a batch, values converted and checked before anything is sent. */
  buildStatements(batch: ApplyBatch): BatchStatement[] {
    const table = batch.table.name;
    const out: BatchStatement[] = [];
    const budget = Math.max(1024, this.maxPacket - 1024);
    for (const step of batch.steps) {
      if (step.kind === 'truncate') {
        out.push({ sql: truncateSql(table), params: [] });
        continue;
      }
      const columns = step.columns;
      const rows = step.kind === 'upsert' ? step.rows : step.keys;
      if (rows.length === 0) continue;
      if (step.kind === 'upsert' && !columns.some((c) => c.key !== null)) {
        throw new ConfigError(`upsert into ${table} has no key columns`);
      }
      const build = step.kind === 'upsert' ? (n: number) => upsertSql(table, columns, n) : (n: number) => deleteSql(table, columns, n);
      const overhead = Buffer.byteLength(build(1));
      let params: unknown[] = [];
      let count = 0;
      let bytes = overhead;
      const flush = () => {
        if (count > 0) out.push({ sql: build(count), params });
        params = [];
        count = 0;
        bytes = overhead;
      };
      const width = columns.length;
      for (const row of rows) {
        // The row's values go into the statement's parameters at once; if the row does not fit
        // the statement any more, they move to the next one.
        const from = params.length;
        let size = 4;
        for (let i = 0; i < width; i++) {
          const v = mysqlParam(columns[i]!, row[i], table);
          params.push(v);
          size += escapedSize(v) + 1;
        }
        if (overhead + size > budget) {
          throw new ValueError(`${table}: a row of ${overhead + size} bytes does not fit the server's max_allowed_packet (${this.maxPacket})`, {
            details: { table },
          });
        }
        if (count >= this.maxRows || bytes + size > budget) {
          const converted = params.splice(from, width);
          flush();
          for (const v of converted) params.push(v);
        }
        count += 1;
        bytes += size;
      }
      flush();
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
    const context = `apply to ${batch.table.name}`;
    let conn: PoolConnection;
    try {
      conn = await this.requirePool().getConnection();
    } catch (error) {
      throw classifyMysqlError(error, context, this.parsed.password);
    }
    let broken = false;
    try {
      await conn.beginTransaction();
      for (const o of batch.offsets) {
        if (o.expectedFrom === undefined) continue;
        const [rows] = await conn.query<RowDataPacket[]>(
          fenceSql(this.offsetsTable),
          [o.groupId, o.topic, o.partition],
        );
        checkFence(o, rows[0] ? BigInt(String(rows[0].n)) : null);
      }
      for (const s of statements) await conn.query(s.sql, s.params);
      await conn.commit();
    } catch (error) {
      if (error instanceof StaleBatchError) {
        await conn.rollback().catch(() => undefined);
        throw error;
      }
      broken = isConnectionLoss(error);
      if (!broken) {
        try {
          await conn.rollback();
        } catch {
          broken = true;
        }
      }
      throw classifyMysqlError(error, context, this.parsed.password);
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }
}
