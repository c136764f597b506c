import type { Admin, Kafka } from 'kafkajs';
import type pg from 'pg';
import { checkpointTopic, DecodeError, errorMessage, formatLsn } from '@walrelay/core';
import { decodeCheckpoint, type SnapshotState } from '@walrelay/source-postgres';
import { readRanges } from './topic-reader.js';

/** The latest checkpoint record of one slot, as the source wrote it. */
export interface CheckpointState {
  readonly commitLsn: string;
  readonly endLsn: string;
  readonly snapshot: SnapshotState;
  readonly snapshotConsistentLsn: string | null;
  /** A PostgreSQL transaction published in part (the source completes it after a restart). */
  readonly partial: { readonly commitLsn: string; readonly publishedChanges: string } | null;
  /** When the source wrote it (its last Kafka commit). */
  readonly updatedAt: string;
  readonly ageSeconds: number;
  /** Incremental snapshots in progress (table, rows so far, last key of the last finished chunk, why). */
  readonly incremental: readonly { readonly table: string; readonly rows: string; readonly lastKey: string | null; readonly reason: string }[];
}

export interface SlotStatus {
  readonly slot: string;
  readonly exists: boolean;
  readonly database: string | null;
  /** A walsender streams from the slot. */
  readonly active: boolean;
  readonly activePid: number | null;
  /** The session holding the source's standby lock (the active walrelay-source's catalog connection). */
  readonly lockHolder: { readonly pid: number; readonly applicationName: string; readonly clientAddr: string | null; readonly since: string } | null;
  readonly confirmedLsn: string | null;
  readonly restartLsn: string | null;
  readonly walLsn: string | null;
  /** WAL the server keeps for this slot (current WAL position − restart_lsn). */
  readonly retainedWalBytes: number | null;
  /** Current WAL position − confirmed_flush_lsn. */
  readonly confirmedLagBytes: number | null;
  readonly walStatus: string | null;
  readonly checkpoint: CheckpointState | null;
}

/** The newest checkpoint per slot in the prefix's checkpoint topic (a tombstone removes a slot's). */
export async function readCheckpoints(kafka: Kafka, admin: Admin, prefix: string, timeoutMs: number): Promise<Map<string, CheckpointState>> {
  const topic = checkpointTopic(prefix);
  const out = new Map<string, CheckpointState>();
  if (!(await admin.listTopics()).includes(topic)) return out;
  const offsets = await admin.fetchTopicOffsets(topic);
  const ranges = offsets.map((o) => ({ topic, partition: o.partition, from: BigInt(o.low), to: BigInt(o.high) }));
  await readRanges(
    kafka,
    ranges,
    (_t, _p, message) => {
      const slot = message.key?.toString('utf8');
      if (!slot) return;
      if (!message.value || message.value.length === 0) {
        out.delete(slot);
        return;
      }
      let v;
      try {
        // The source's own decoder: every checkpoint format it writes or still reads.
        v = decodeCheckpoint(message.value);
      } catch (e) {
        throw new DecodeError(`checkpoint of slot ${slot} in ${topic} does not decode: ${errorMessage(e)}`);
      }
      const updated = Number(v.updatedMs ?? 0n);
      out.set(slot, {
        commitLsn: formatLsn(v.commitLsn),
        endLsn: formatLsn(v.endLsn),
        snapshot: v.snapshot,
        snapshotConsistentLsn: v.snapshotConsistentLsn === null ? null : formatLsn(v.snapshotConsistentLsn),
        partial: v.partialFinalLsn === null ? null : { commitLsn: formatLsn(v.partialFinalLsn), publishedChanges: v.partialPublished.toString() },
        updatedAt: new Date(updated).toISOString(),
        incremental: (v.incremental ?? []).map((e) => ({ table: `${e.schema}.${e.table}`, rows: e.rows.toString(), lastKey: e.lastKey, reason: e.reason })),
        ageSeconds: Math.max(0, (Date.now() - updated) / 1000),
      });
    },
    timeoutMs,
  );
  return out;
}

/** The advisory lock key a walrelay-source takes for its slot (Source.#acquireSlotLock). */
export const SLOT_LOCK_SQL = "hashtextextended('walrelay-source:' || $1, 0)";

export async function slotStatus(client: pg.Client, slot: string, checkpoint: CheckpointState | null): Promise<SlotStatus> {
  const res = await client.query(
    `SELECT s.database, s.active, s.active_pid, s.restart_lsn::text AS restart_lsn, s.confirmed_flush_lsn::text AS confirmed_lsn,
            s.wal_status, pg_current_wal_lsn()::text AS wal_lsn,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::text AS retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::text AS confirmed_lag
       FROM pg_replication_slots s WHERE s.slot_name = $1`,
    [slot],
  );
  const row = res.rows[0] as
    | { database: string; active: boolean; active_pid: number | null; restart_lsn: string | null; confirmed_lsn: string | null; wal_status: string | null; wal_lsn: string; retained: string | null; confirmed_lag: string | null }
    | undefined;
  const database = row?.database ?? null;
  // The lock lives in the database the source connects to: the slot's, else the one we are in.
  const lock = await client.query(
    `SELECT l.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = COALESCE($2, current_database()))
        AND ((l.classid::bigint << 32) | l.objid::bigint) = ${SLOT_LOCK_SQL}`,
    [slot, database],
  );
  const holder = lock.rows[0] as { pid: number; application_name: string; client_addr: string | null; backend_start: Date } | undefined;
  return {
    slot,
    exists: row !== undefined,
    database,
    active: row?.active ?? false,
    activePid: row?.active_pid ?? null,
    lockHolder: holder ? { pid: holder.pid, applicationName: holder.application_name, clientAddr: holder.client_addr, since: new Date(holder.backend_start).toISOString() } : null,
    confirmedLsn: row?.confirmed_lsn ?? null,
    restartLsn: row?.restart_lsn ?? null,
    walLsn: row?.wal_lsn ?? null,
    retainedWalBytes: row?.retained == null ? null : Number(row.retained),
    confirmedLagBytes: row?.confirmed_lag == null ? null : Number(row.confirmed_lag),
    walStatus: row?.wal_status ?? null,
    checkpoint,
  };
}
