import { ApplyError, ConfigError, ConnectionError, ValueError, WalrelayError, errorMessage, type Logger, type SchemaColumn } from '@walrelay/core';
import { checkFence, lsnFromSigned, StaleBatchError, type ApplyBatch, type StoredOffset, type TargetDriver, type TargetTable } from '@walrelay/sink';
import sql from 'mssql';
import type { ConnectionPool, ISqlType, Transaction, config as MssqlConfig } from 'mssql';
import { planApply, type Param, type ParamKind, type PlannedRequest } from './plan.js';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_SCHEMA,
  EXISTING_COLUMNS_SQL,
  EXTRA_UNIQUE_INDEXES_SQL,
  PRIMARY_KEY_SQL,
  addColumnSql,
  createTableSql,
  loadOffsetsSql,
  offsetsTableSql,
  qualified,
  quoteIdent,
} from './sql.js';

export * from './sql.js';
export * from './plan.js';

export interface MssqlTargetOptions {
  /** mssql://user:pass@host:1433/db?encrypt=true&trustServerCertificate=false&schema=dbo&instanceName=… */
  readonly url: string;
  /** Schema of the target tables and of walrelay_offsets (default: URL `schema`, else dbo). */
  readonly schema?: string;
  /** TLS; override the URL's `encrypt` / `trustServerCertificate` (defaults: true / false). */
  readonly encrypt?: boolean;
  readonly trustServerCertificate?: boolean;
  /** Connections in the pool (default 4). */
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  /** Per request (default 120000 ms). */
  readonly requestTimeoutMs?: number;
  /** Rows per staging INSERT at most (default 1000; always ≤ 2,000 parameters). */
  readonly maxRowsPerStatement?: number;
  readonly offsetsTable?: string;
}

export interface ParsedMssqlUrl {
  readonly server: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly encrypt: boolean;
  readonly trustServerCertificate: boolean;
  readonly instanceName: string | undefined;
  readonly schema: string | undefined;
}

function flag(value: string | null, name: string, fallback: boolean): boolean {
  if (value === null) return fallback;
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'strict'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`mssql URL parameter ${name}: expected true or false, got ${JSON.stringify(value)}`);
}

export function parseMssqlUrl(url: string): ParsedMssqlUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('mssql target URL is not a valid URL (expected mssql://user:pass@host:1433/db)');
  }
  if (u.protocol !== 'mssql:' && u.protocol !== 'sqlserver:') {
    throw new ConfigError(`mssql target URL must start with mssql:// or sqlserver://, got ${u.protocol}//`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('mssql target URL names no database (mssql://user:pass@host:1433/<db>)');
  const p = u.searchParams;
  const port = u.port ? Number(u.port) : 1433;
  return {
    server: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port,
    database,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    encrypt: flag(p.get('encrypt'), 'encrypt', true),
    trustServerCertificate: flag(p.get('trustServerCertificate') ?? p.get('trust_server_certificate'), 'trustServerCertificate', false),
    instanceName: p.get('instanceName') ?? undefined,
    schema: p.get('schema') ?? undefined,
  };
}

/** Maps a planned parameter kind to the mssql type. */
export function sqlType(kind: ParamKind): ISqlType | (() => ISqlType) {
  switch (kind) {
    case 'bit':
      return sql.Bit;
    case 'smallint':
      return sql.SmallInt;
    case 'int':
      return sql.Int;
    case 'bigint':
      return sql.BigInt;
    case 'real':
      return sql.Real;
    case 'float':
      return sql.Float;
    case 'varbinary':
      return sql.VarBinary(sql.MAX);
    case 'uniqueidentifier':
      return sql.UniqueIdentifier;
    case 'varchar':
      return sql.VarChar(sql.MAX);
    case 'nvarchar':
      return sql.NVarChar(sql.MAX);
  }
}

const VALUE_NUMBERS = new Set([
  220, // arithmetic overflow (smallint/int)
  232, // arithmetic overflow for type
  241, // conversion failed: date/time from string
  242, // out-of-range datetime value
  245, // conversion failed (int)
  248, // conversion overflowed an int
  515, // NULL into NOT NULL
  2628, // string or binary data would be truncated (2019+)
  8114, // error converting data type
  8115, // arithmetic overflow converting to numeric
  8152, // string or binary data would be truncated
  8169, // conversion failed: uniqueidentifier
]);
const RETRIABLE_NUMBERS = new Set([1205, 1222, 40_501, 40_613, 49_918, 49_919, 49_920, 10_928, 10_929, 4_221]);
const CONNECTION_NUMBERS = new Set([233, 10_053, 10_054, 10_060, 64, 40_197]);
const CONNECTION_CODES = new Set(['ESOCKET', 'ECONNCLOSED', 'ETIMEOUT', 'ENOTOPEN', 'ENOCONN', 'EINSTLOOKUP', 'ECONNRESET', 'ECONNREFUSED']);

function scrub(message: string, password: string): string {
  return password ? message.split(password).join('***') : message;
}

/** mssql/tedious error → walrelay's error classes. */
export function classifyMssqlError(error: unknown, context: string, password = ''): WalrelayError {
  if (error instanceof WalrelayError) return error;
  const e = (error ?? {}) as { number?: unknown; code?: unknown; originalError?: { number?: unknown; code?: unknown; info?: { number?: unknown } } };
  const number =
    typeof e.number === 'number' ? e.number : typeof e.originalError?.info?.number === 'number' ? e.originalError.info.number : typeof e.originalError?.number === 'number' ? e.originalError.number : undefined;
  const code = typeof e.code === 'string' ? e.code : typeof e.originalError?.code === 'string' ? e.originalError.code : undefined;
  const message = `${context}: ${scrub(errorMessage(error), password)}${number !== undefined ? ` (${number})` : code ? ` (${code})` : ''}`;
  const details = { number, driverCode: code };
  if (number !== undefined && VALUE_NUMBERS.has(number)) return new ValueError(message, { cause: error, details });
  if (number !== undefined && RETRIABLE_NUMBERS.has(number)) return new ApplyError(message, { retriable: true, cause: error, details });
  if (code === 'ELOGIN' || number === 18_456 || number === 4_060) return new ConnectionError('sqlserver', message, { retriable: false, cause: error, details });
  if ((number !== undefined && CONNECTION_NUMBERS.has(number)) || (code !== undefined && CONNECTION_CODES.has(code))) {
    return new ConnectionError('sqlserver', message, { retriable: true, cause: error, details });
  }
  return new ApplyError(message, { retriable: false, cause: error, details });
}

/** SQL Server target on mssql (tedious). */
export class MssqlTarget implements TargetDriver {
  readonly dialect = 'mssql';
  private pool: ConnectionPool | undefined;
  private readonly parsed: ParsedMssqlUrl;
  private readonly schema: string;
  private readonly offsetsTable: string;

  constructor(
    private readonly options: MssqlTargetOptions,
    private readonly log?: Logger,
  ) {
    this.parsed = parseMssqlUrl(options.url);
    this.schema = options.schema ?? this.parsed.schema ?? DEFAULT_SCHEMA;
    this.offsetsTable = options.offsetsTable ?? DEFAULT_OFFSETS_TABLE;
    quoteIdent(this.schema);
    quoteIdent(this.offsetsTable);
  }

  private config(): MssqlConfig {
    const p = this.parsed;
    return {
      server: p.server,
      port: p.instanceName ? undefined : p.port,
      database: p.database,
      user: p.user,
      password: p.password,
      connectionTimeout: this.options.connectTimeoutMs ?? 15_000,
      requestTimeout: this.options.requestTimeoutMs ?? 120_000,
      pool: { max: this.options.poolSize ?? 4, min: 0 },
      options: {
        encrypt: this.options.encrypt ?? p.encrypt,
        trustServerCertificate: this.options.trustServerCertificate ?? p.trustServerCertificate,
        ...(p.instanceName ? { instanceName: p.instanceName } : {}),
        appName: 'walrelay',
        useUTC: true,
      },
    };
  }

  async connect(): Promise<void> {
    if (this.pool) return;
    const pool = new sql.ConnectionPool(this.config());
    pool.on('error', (error: unknown) => this.log?.warn({ err: scrub(errorMessage(error), this.parsed.password) }, 'sqlserver pool error'));
    try {
      await pool.connect();
      await pool.request().query('SELECT 1 AS ok');
    } catch (error) {
      await pool.close().catch(() => undefined);
      const e = classifyMssqlError(error, `cannot connect to ${this.parsed.server}:${this.parsed.port}/${this.parsed.database} as ${this.parsed.user}`, this.parsed.password);
      throw e instanceof ConnectionError ? e : new ConnectionError('sqlserver', e.message, { cause: error, retriable: e.retriable });
    }
    this.pool = pool;
    this.log?.info({ server: this.parsed.server, database: this.parsed.database, schema: this.schema }, 'sqlserver target connected');
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  private requirePool(): ConnectionPool {
    if (!this.pool) throw new ConnectionError('sqlserver', 'not connected (call connect() first)', { retriable: false });
    return this.pool;
  }

  private async query<T = Record<string, unknown>>(context: string, text: string, params: readonly Param[] = []): Promise<T[]> {
    try {
      const request = this.requirePool().request();
      for (const p of params) request.input(p.name, sqlType(p.kind), p.value);
      const result = await request.query(text);
      return (result.recordset ?? []) as T[];
    } catch (error) {
      throw classifyMssqlError(error, context, this.parsed.password);
    }
  }

  private objectParam(table: string): Param {
    return { name: 'object', kind: 'nvarchar', value: qualified(this.schema, table) };
  }

  async ensureOffsetsTable(): Promise<void> {
    await this.query(`create ${this.offsetsTable}`, offsetsTableSql(this.schema, this.offsetsTable), [this.objectParam(this.offsetsTable)]);
  }

  async loadOffsets(groupId: string): Promise<StoredOffset[]> {
    const rows = await this.query<{ topic: string; kafka_partition: number; next_offset: string; source_lsn: string | null }>(
      `load offsets of group ${groupId}`,
      loadOffsetsSql(this.schema, this.offsetsTable),
      [{ name: 'group', kind: 'nvarchar', value: groupId }],
    );
    return rows.map((r) => ({
      groupId,
      topic: r.topic,
      partition: Number(r.kafka_partition),
      nextOffset: BigInt(r.next_offset),
      sourceLsn: r.source_lsn === null ? null : lsnFromSigned(BigInt(r.source_lsn)),
    }));
  }

  async existingColumns(table: string): Promise<string[] | null> {
    const rows = await this.query<{ name: string }>(`columns of ${table}`, EXISTING_COLUMNS_SQL, [this.objectParam(table)]);
    return rows.length === 0 ? null : rows.map((r) => r.name);
  }

  async createTable(table: TargetTable): Promise<void> {
    await this.query(`create table ${table.name}`, createTableSql(this.schema, table.name, table.shape), [this.objectParam(table.name)]);
    this.log?.info({ table: table.name }, 'sqlserver: created table');
  }

  async addColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<void> {
    const existing = new Set((await this.existingColumns(table.name)) ?? []);
    const missing = columns.filter((c) => !existing.has(c.name));
    if (missing.length === 0) return;
    await this.query(`add columns to ${table.name}`, addColumnSql(this.schema, table.name, missing));
    this.log?.info({ table: table.name, columns: missing.map((c) => c.name) }, 'sqlserver: added columns');
  }

  async primaryKey(table: string): Promise<string[]> {
    const rows = await this.query<{ name: string }>(`primary key of ${table}`, PRIMARY_KEY_SQL, [this.objectParam(table)]);
    return rows.map((r) => r.name);
  }

  async extraUniqueIndexes(table: string): Promise<string[]> {
    const rows = await this.query<{ name: string }>(`indexes of ${table}`, EXTRA_UNIQUE_INDEXES_SQL, [this.objectParam(table)]);
    return rows.map((r) => r.name);
  }

  /** The requests of a batch (pure; exposed for tests and dry runs). */
  plan(batch: ApplyBatch): PlannedRequest[] {
    return planApply(batch, {
      schema: this.schema,
      offsetsTable: this.offsetsTable,
      ...(this.options.maxRowsPerStatement !== undefined ? { maxRowsPerStatement: this.options.maxRowsPerStatement } : {}),
    });
  }

  async apply(batch: ApplyBatch): Promise<void> {
    const requests = this.plan(batch);
    if (requests.length === 0) return;
    const context = `apply to ${batch.table.name}`;
    let tx: Transaction | undefined;
    try {
      tx = new sql.Transaction(this.requirePool());
      await tx.begin();
      // Any error aborts the whole transaction (and the #temp tables it created).
      await new sql.Request(tx).batch('SET XACT_ABORT ON');
      for (const o of batch.offsets) {
        if (o.expectedFrom === undefined) continue;
        const fence = new sql.Request(tx);
        fence.input('group', sql.NVarChar(255), o.groupId);
        fence.input('topic', sql.NVarChar(255), o.topic);
        fence.input('partition', sql.Int, o.partition);
        const res = await fence.query(
          `SELECT CAST([next_offset] AS VARCHAR(20)) AS n FROM ${qualified(this.schema, this.offsetsTable)} WITH (UPDLOCK, HOLDLOCK) WHERE [group_id] = @group AND [topic] = @topic AND [kafka_partition] = @partition`,
        );
        const row = res.recordset[0] as { n: string } | undefined;
        checkFence(o, row ? BigInt(row.n) : null);
      }
      for (const r of requests) {
        const request = new sql.Request(tx);
        for (const p of r.params) request.input(p.name, sqlType(p.kind), p.value);
        // Without parameters: a plain SQL batch, so the #temp table it creates belongs to the
        // session (a #temp created inside sp_executesql would vanish when that call ends).
        // With parameters: sp_executesql, which sees the session's #temp tables.
        if (r.params.length === 0) await request.batch(r.sql);
        else await request.query(r.sql);
      }
      await tx.commit();
    } catch (error) {
      if (tx) await tx.rollback().catch(() => undefined); // already rolled back by XACT_ABORT: ignore
      if (error instanceof StaleBatchError) throw error;
      throw classifyMssqlError(error, context, this.parsed.password);
    }
  }
}
