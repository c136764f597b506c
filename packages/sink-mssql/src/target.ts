import { ApplyError, ConnectionError, errorMessage, keyColumns, type Logger, type SchemaColumn } from '@walrelay/core';
import { checkFence, needsWidening, lsnFromSigned, StaleBatchError, type ApplyBatch, type StoredOffset, type TableOwner, type TargetDriver, type TargetTable } from '@walrelay/sink';
import sql from 'mssql';
import type { ConnectionPool, Transaction, config as MssqlConfig } from 'mssql';
import { classifyMssqlError, scrub } from './errors.js';
import { planApply, type PlannedRequest } from './plan.js';
import { parseMssqlUrl, type ParsedMssqlUrl } from './url.js';
import { sqlType, type Param } from './values.js';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_SCHEMA,
  EXISTING_COLUMNS_SQL,
  COLUMN_TYPES_SQL,
  PRIMARY_KEY_CONSTRAINT_SQL,
  RENAME_COLUMN_SQL,
  columnType,
  keyLengths,
  mssqlTypeText,
  widenColumnsSql,
  type MssqlColumnType,
  EXTRA_UNIQUE_INDEXES_SQL,
  PRIMARY_KEY_SQL,
  addColumnSql,
  fenceSql,
  createTableSql,
  loadOffsetsSql,
  offsetsTableSql,
  DEFAULT_OWNERS_TABLE,
  claimTableSql,
  ownersTableSql,
  tableOwnerSql,
  qualified,
  quoteIdent,
} from './sql.js';

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
  /** Name of the table owners table (default walrelay_table_owners). */
  readonly ownersTable?: string;
}
export class MssqlTarget implements TargetDriver {
  readonly dialect = 'mssql';
  private pool: ConnectionPool | undefined;
  private readonly parsed: ParsedMssqlUrl;
  private readonly schema: string;
  private readonly offsetsTable: string;
  private readonly ownersTable: string;

  constructor(
    private readonly options: MssqlTargetOptions,
    private readonly log?: Logger,
  ) {
    this.parsed = parseMssqlUrl(options.url);
    this.schema = options.schema ?? this.parsed.schema ?? DEFAULT_SCHEMA;
    this.offsetsTable = options.offsetsTable ?? DEFAULT_OFFSETS_TABLE;
    quoteIdent(this.schema);
    quoteIdent(this.offsetsTable);
    this.ownersTable = options.ownersTable ?? DEFAULT_OWNERS_TABLE;
    quoteIdent(this.ownersTable);
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
    await this.query(`create ${this.ownersTable}`, ownersTableSql(this.schema, this.ownersTable), [this.objectParam(this.ownersTable)]);
  }

  async claimTable(owner: TableOwner): Promise<TableOwner> {
    const rows = await this.query<{ target_table: string; topic: string; source_table: string }>(`claim target table ${owner.table}`, claimTableSql(this.schema, this.ownersTable), [
      { name: 'table', kind: 'nvarchar', value: owner.table },
      { name: 'topic', kind: 'nvarchar', value: owner.topic },
      { name: 'source', kind: 'nvarchar', value: owner.source },
    ]);
    const r = rows[0];
    if (!r) throw new ApplyError(`the claim of target table ${owner.table} in ${this.ownersTable} was not stored`);
    return { table: r.target_table, topic: r.topic, source: r.source_table };
  }

  async tableOwner(table: string): Promise<TableOwner | null> {
    const rows = await this.query<{ target_table: string; topic: string; source_table: string }>(`owner of target table ${table}`, tableOwnerSql(this.schema, this.ownersTable), [
      { name: 'table', kind: 'nvarchar', value: table },
    ]);
    const r = rows[0];
    return r ? { table: r.target_table, topic: r.topic, source: r.source_table } : null;
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

  async renameColumn(table: string, from: string, to: string): Promise<void> {
    await this.query(`rename column ${from} of ${table} to ${to}`, RENAME_COLUMN_SQL, [
      { name: 'objname', kind: 'nvarchar', value: `${qualified(this.schema, table)}.${quoteIdent(from)}` },
      { name: 'newname', kind: 'nvarchar', value: to },
    ]);
    this.log?.info({ table, from, to }, 'sqlserver: renamed column');
  }

  async widenColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<string[]> {
    const rows = await this.query<MssqlColumnType & { name: string; is_nullable: boolean }>(`column types of ${table.name}`, COLUMN_TYPES_SQL, [this.objectParam(table.name)]);
    const current = new Map(rows.map((r) => [r.name, r]));
    const keys = keyColumns(table.shape);
    const lengths = keyLengths(keys);
    const changes = columns.flatMap((c) => {
      const have = current.get(c.name);
      if (!have) return [];
      const want = columnType(c, c.key !== null, lengths.get(c.name));
      return needsWidening(mssqlTypeText(have), want) ? [{ name: c.name, sqlType: want, nullable: have.is_nullable, key: c.key !== null }] : [];
    });
    if (changes.length === 0) return [];
    let primaryKey: { name: string; columns: string[] } | undefined;
    if (changes.some((c) => c.key)) {
      const [pk] = await this.query<{ name: string }>(`primary key of ${table.name}`, PRIMARY_KEY_CONSTRAINT_SQL, [this.objectParam(table.name)]);
      if (pk) primaryKey = { name: pk.name, columns: await this.primaryKey(table.name) };
    }
    await this.query(`widen columns of ${table.name}`, widenColumnsSql(this.schema, table.name, changes, primaryKey));
    this.log?.info({ table: table.name, columns: changes.map((c) => `${c.name} ${c.sqlType}`) }, 'sqlserver: widened columns');
    return changes.map((c) => c.name);
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
          fenceSql(this.schema, this.offsetsTable),
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
