import type pg from 'pg';
import { errorMessage, InterruptedError, type Logger, type Lsn, type SourceBlock } from '@walrelay/core';
import { pgClient, quotePgIdent, wrapPgError, type PgConnectionSettings } from '../replication/connection.js';
import { changeRecords } from '../publish/change-records.js';
import type { TransactionalPublisher } from '../publish/publisher.js';
import type { IncrementalProgress, SourceCheckpoint } from '../publish/checkpoint.js';
import type { CapturedTable, TableRegistry } from '../tables.js';
import type { SourceMetrics } from '../metrics.js';
import { SnapshotProgress } from './progress.js';
import type { SnapshotTable } from './publication.js';
import { convertRow, keyOf } from './incremental.js';

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

export { publicationTables, type SnapshotTable } from './publication.js';

/**
 * Reads every table inside the slot's exported snapshot and publishes each row as
 * `op: r`, in Kafka transactions that carry a RUNNING checkpoint. Several
 * connections share the snapshot and take tables from one queue; one publisher
 * serialises their records. Memory stays bounded: rows are fetched `fetchRows` at a
 * time through a cursor and sent before the next fetch.
 *
 * Each table is read in key order, only the columns and rows the publication
 * publishes. Every checkpoint lists the tables not yet finished with the key of the
 * last row it covers (`incremental`, reason `initial`): a source that fails (or is
 * killed) keeps the slot and, streaming from its consistent point, reads the rest of
 * those tables incrementally — so each row reaches Kafka once.
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
  // Progress per table (stable ids: the checkpoint's entries).
  const progressOf = new Map<number, { entry: IncrementalProgress; done: boolean }>();
  for (const t of tables) {
    progressOf.set(t.oid, { entry: { id: `initial:${t.oid}`, schema: t.schema, table: t.table, condition: null, lastKey: null, rows: 0n, reason: 'initial' }, done: false });
  }
  const running = (): SourceCheckpoint => ({
    ...checkpoint,
    snapshot: 'RUNNING',
    snapshotConsistentLsn: options.consistentPoint,
    incremental: [...progressOf.values()].filter((p) => !p.done).map((p) => p.entry),
  });
  // Durable before the first row: the tables owed and the consistent point to stream from.
  await serial(() => publisher.commit(running()));

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
        const table = await registry.forSnapshot(next.oid, next.columns);
        if (!table) {
          progressOf.get(next.oid)!.done = true;
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
    const order = table.keyIndexes.map((i) => quotePgIdent(table.columns[i]!.name)).join(', ');
    const cursor = `walrelay_snapshot_${entry.oid}`;
    const where = entry.rowFilter ? ` WHERE (${entry.rowFilter})` : '';
    await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${cols} FROM ${quotePgIdent(table.schema)}.${quotePgIdent(table.table)}${where} ORDER BY ${order}`);
    const label = `${table.schema}.${table.table}`;
    const state = progressOf.get(entry.oid)!;
    metrics.snapshotEstimate.set({ table: label }, entry.estimatedRows);
    for (;;) {
      if (signal.aborted) throw new InterruptedError('snapshot interrupted by shutdown');
      const res = await client.query({ text: `FETCH ${options.fetchRows} FROM ${cursor}`, rowMode: 'array' });
      const rows = res.rows as (string | null)[][];
      if (rows.length === 0) break;
      await serial(async () => {
        for (const raw of rows) {
          const key = keyOf(table, raw);
          const after = convertRow(table, raw, key);
          const source = snapshotSource(table, options);
          for (const r of changeRecords(table, { op: 'r', before: null, after, unchanged: [], source }, false)) {
            const sending = publisher.add(r);
            if (sending) await sending;
          }
          state.entry = { ...state.entry, lastKey: key, rows: state.entry.rows + 1n };
          published++;
          inTransaction++;
          if (inTransaction >= options.maxChanges) {
            await publisher.commit(running());
            inTransaction = 0;
          }
        }
      });
      metrics.snapshotRows.inc({ table: label }, rows.length);
      metrics.changes.inc({ table: label, op: 'r' }, rows.length);
      progress.add(entry, rows.length);
    }
    await client.query(`CLOSE ${cursor}`);
    await serial(async () => {
      state.done = true;
    });
    progress.done(entry);
  };

  const readers = Array.from({ length: Math.max(1, Math.min(options.parallelism, tables.length)) }, (_, i) => reader(i));
  const results = await Promise.allSettled(readers);
  await chain;
  progress.finish();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await publisher.abort().catch(() => undefined);
    log.error(
      { err: errorMessage(failed.reason), unfinished: [...progressOf.values()].filter((p) => !p.done).map((p) => `${p.entry.schema}.${p.entry.table}`) },
      'snapshot failed; the next run keeps the slot and reads the unfinished tables incrementally from the last key published',
    );
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
