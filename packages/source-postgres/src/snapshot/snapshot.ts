import type pg from 'pg';
import { errorMessage, InterruptedError, type Logger, type Lsn, type SourceBlock } from '@walrelay/core';
import { pgClient, quotePgIdent, wrapPgError, type PgConnectionSettings } from '../replication/connection.js';
import { changeRecords, type RowImage } from '../publish/change-records.js';
import type { TransactionalPublisher } from '../publish/publisher.js';
import type { SourceCheckpoint } from '../publish/checkpoint.js';
import type { CapturedTable, TableRegistry } from '../tables.js';
import type { SourceMetrics } from '../metrics.js';
import { SnapshotProgress } from './progress.js';

export interface SnapshotOptions {
  readonly snapshotName: string;
  readonly consistentPoint: Lsn;
  readonly parallelism: number;
  readonly fetchRows: number;
  readonly maxChanges: number;
  readonly connectorName: string;
  readonly database: string;
  readonly version: string;
}

export interface SnapshotTable {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly estimatedRows: number;
}

/** Tables of the publication, with the planner's row estimate, largest first. */
export async function publicationTables(client: pg.Client, publication: string): Promise<SnapshotTable[]> {
  const res = await client.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table, GREATEST(c.reltuples, 0)::bigint AS estimate
       FROM pg_publication_tables pt
       JOIN pg_namespace n ON n.nspname = pt.schemaname
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
      WHERE pt.pubname = $1
      ORDER BY c.reltuples DESC`,
    [publication],
  );
  return res.rows.map((r: { oid: number | string; schema: string; table: string; estimate: string }) => ({
    oid: Number(r.oid),
    schema: r.schema,
    table: r.table,
    estimatedRows: Number(r.estimate),
  }));
}

/**
 * Reads every table inside the slot's exported snapshot and publishes each row as
 * `op: r`, in Kafka transactions that carry a RUNNING checkpoint. Several
 * connections share the snapshot and take tables from one queue; one publisher
 * serialises their records. Memory stays bounded: rows are fetched `fetchRows` at a
 * time through a cursor and sent before the next fetch.
 */
export async function runSnapshot(
  settings: PgConnectionSettings,
  tables: readonly SnapshotTable[],
  registry: TableRegistry,
  publisher: TransactionalPublisher,
  checkpoint: SourceCheckpoint,
  options: SnapshotOptions,
  metrics: SourceMetrics,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  const progress = new SnapshotProgress(tables, log);
  const queue = [...tables];
  let published = 0;
  let inTransaction = 0;
  // One publisher, many readers: chain their work.
  let chain: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>): Promise<void> => {
    const next = chain.then(fn);
    chain = next.catch(() => undefined);
    return next;
  };
  const running: SourceCheckpoint = { ...checkpoint, snapshot: 'RUNNING', snapshotConsistentLsn: options.consistentPoint };

  const reader = async (readerId: number): Promise<void> => {
    const client = pgClient(settings, false, `walrelay-snapshot-${readerId}`);
    try {
      await client.connect();
    } catch (e) {
      throw wrapPgError('snapshot connection', e);
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(`SET TRANSACTION SNAPSHOT '${options.snapshotName.replace(/'/g, "''")}'`);
      for (;;) {
        if (signal.aborted) throw new InterruptedError('snapshot interrupted by shutdown');
        const next = queue.shift();
        if (!next) break;
        const table = await registry.forSnapshot(next.oid);
        if (!table) {
          progress.done(next);
          continue;
        }
        await readTable(client, table, next);
      }
      await client.query('COMMIT');
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const readTable = async (client: pg.Client, table: CapturedTable, entry: SnapshotTable): Promise<void> => {
    const cols = table.columns.map((c) => quotePgIdent(c.name)).join(', ');
    const cursor = `walrelay_snapshot_${entry.oid}`;
    await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${cols} FROM ${quotePgIdent(table.schema)}.${quotePgIdent(table.table)}`);
    const label = `${table.schema}.${table.table}`;
    metrics.snapshotEstimate.set({ table: label }, entry.estimatedRows);
    for (;;) {
      if (signal.aborted) throw new InterruptedError('snapshot interrupted by shutdown');
      const res = await client.query({ text: `FETCH ${options.fetchRows} FROM ${cursor}`, rowMode: 'array' });
      const rows = res.rows as (string | null)[][];
      if (rows.length === 0) break;
      await serial(async () => {
        for (const raw of rows) {
          const after: RowImage = {};
          for (let i = 0; i < table.columns.length; i++) {
            const text = raw[i];
            after[table.columns[i]!.field] = text === null || text === undefined ? null : table.converters[i]!(text);
          }
          const source = snapshotSource(table, options);
          for (const r of changeRecords(table, { op: 'r', before: null, after, unchanged: [], source }, false)) {
            const sending = publisher.add(r);
            if (sending) await sending;
          }
          published++;
          inTransaction++;
          if (inTransaction >= options.maxChanges) {
            await publisher.commit(running);
            inTransaction = 0;
          }
        }
      });
      metrics.snapshotRows.inc({ table: label }, rows.length);
      metrics.changes.inc({ table: label, op: 'r' }, rows.length);
      progress.add(entry, rows.length);
    }
    await client.query(`CLOSE ${cursor}`);
    progress.done(entry);
  };

  const readers = Array.from({ length: Math.max(1, Math.min(options.parallelism, tables.length)) }, (_, i) => reader(i));
  const results = await Promise.allSettled(readers);
  await chain;
  progress.finish();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await publisher.abort().catch(() => undefined);
    log.error({ err: errorMessage(failed.reason) }, 'snapshot failed; it will be redone from the start on the next run');
    throw failed.reason;
  }
  return published;
}

function snapshotSource(table: CapturedTable, options: SnapshotOptions): SourceBlock {
  const now = Date.now();
  return {
    version: options.version,
    connector: 'postgresql',
    name: options.connectorName,
    ts_ms: BigInt(now),
    ts_us: BigInt(now) * 1000n,
    snapshot: 'true',
    db: options.database,
    sequence: null,
    schema: table.schema,
    table: table.table,
    txId: null,
    lsn: options.consistentPoint,
    commit_lsn: null,
    tx_seq: null,
    xmin: null,
  };
}
