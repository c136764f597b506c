/**
 * `onSlotLost: resync`: the slot the checkpoint follows is gone, so every change made while
 * it was gone is missing from Kafka — updates, inserts, and deletes of rows the targets still
 * hold. A resync makes every target exact again with parts that already hold under several sink
 * processes and rebalances:
 *
 * 1. The resync is owed from the moment it is decided (checkpoint `resyncOwed`, committed
 *    before the new slot is created), so a failure at any later point redoes it.
 * 2. The new slot is created (no exported snapshot); at its consistent point C, one Kafka
 *    transaction publishes, for every captured table, a truncate marker on every partition of
 *    its topic (header `walrelay.resync`), together with the checkpoint: position C, the resync
 *    done, and an incremental snapshot owed for every table (reason `resync`).
 * 3. Streaming starts at C and the incremental snapshots read every table again beside it
 *    (DBLog windows: a chunk never overwrites a newer streamed change).
 *
 * Each sink applies the markers through its truncate barrier (every partition reaches the
 * marker, one process truncates, fenced), so the target table holds nothing from before C, and
 * then exactly what PostgreSQL has as the stream and the chunks arrive: rows deleted during the
 * gap are gone. While a table's snapshot runs, its target tables hold only the rows read or
 * changed so far (README, Operations: Lost slot).
 */
import { randomUUID } from 'node:crypto';
import { RESYNC_HEADER, type Logger, type Lsn, type SourceBlock } from '@walrelay/core';
import type { TransactionalPublisher } from './publish/publisher.js';
import { truncateRecords } from './publish/change-records.js';
import type { KnownTable, SourceCheckpoint } from './publish/checkpoint.js';
import type { SnapshotTable } from './snapshot/publication.js';
import type { TableRegistry } from './tables.js';

export interface ResyncOptions {
  readonly connectorName: string;
  readonly database: string;
  readonly version: string;
}

/** Step 2: the truncate markers of every table and the checkpoint that owes their snapshots, in one Kafka transaction. */
export async function publishResync(
  tables: TableRegistry,
  publisher: TransactionalPublisher,
  checkpoint: SourceCheckpoint,
  list: readonly SnapshotTable[],
  at: Lsn,
  options: ResyncOptions,
  log: Logger,
): Promise<SourceCheckpoint> {
  const known: KnownTable[] = [];
  for (const t of list) {
    const captured = await tables.forSnapshot(t.oid, t.columns);
    if (!captured) continue;
    known.push({ schema: t.schema, table: t.table });
    const now = Date.now();
    const source: SourceBlock = {
      version: options.version,
      connector: 'postgresql',
      name: options.connectorName,
      ts_ms: BigInt(now),
      ts_us: BigInt(now) * 1000n,
      snapshot: 'false',
      db: options.database,
      sequence: null,
      schema: captured.schema,
      table: captured.table,
      txId: null,
      lsn: at,
      commit_lsn: at,
      tx_seq: 0n,
      xmin: null,
    };
    for (const r of truncateRecords(captured, source)) await publisher.add({ ...r, headers: { ...(r.headers ?? {}), [RESYNC_HEADER]: '1' } });
  }
  const kept = (checkpoint.incremental ?? []).filter((e) => e.reason !== 'resync' && e.reason !== 'initial');
  const next: SourceCheckpoint = {
    ...checkpoint,
    commitLsn: at,
    endLsn: at,
    partialFinalLsn: null,
    partialPublished: 0n,
    snapshot: 'DONE',
    snapshotConsistentLsn: at,
    slotCreatedMs: BigInt(Date.now()),
    resyncOwed: false,
    incremental: [...kept, ...known.map((t) => ({ id: randomUUID(), schema: t.schema, table: t.table, condition: null, lastKey: null, rows: 0n, reason: 'resync' }))],
    knownTables: known,
  };
  await publisher.commit(next);
  log.warn({ tables: known.map((t) => `${t.schema}.${t.table}`), at: at.toString() }, 'lost slot resynced: every table truncated in the targets (a marker on each partition) and queued to be read again');
  return next;
}
