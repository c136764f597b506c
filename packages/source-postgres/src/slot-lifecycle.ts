import type pg from 'pg';
import { ConfigError, formatLsn, ReplicationError, type Logger } from '@walrelay/core';
import { quotePgIdent } from './replication/connection.js';
import type { SourceCheckpoint } from './publish/checkpoint.js';

/** PostgreSQL 17 added FAILOVER to CREATE_REPLICATION_SLOT (and ALTER_REPLICATION_SLOT). */
export const FAILOVER_MIN_VERSION = 170000;

/** The replication command that creates walrelay's slot. */
export function createSlotCommand(slot: string, options: { exportSnapshot: boolean; failover: boolean; serverVersion: number }): string {
  const opts = [`SNAPSHOT '${options.exportSnapshot ? 'export' : 'nothing'}'`];
  if (options.failover) {
    if (options.serverVersion < FAILOVER_MIN_VERSION) {
      throw new ConfigError(`slotFailover: FAILOVER slots need PostgreSQL 17 or later; the server is ${versionText(options.serverVersion)} (set slotFailover: false)`);
    }
    opts.push('FAILOVER true');
  }
  return `CREATE_REPLICATION_SLOT ${quotePgIdent(slot)} LOGICAL pgoutput (${opts.join(', ')})`;
}

/** Turns FAILOVER on for an existing slot (PostgreSQL 17+). */
export function alterSlotFailoverCommand(slot: string): string {
  return `ALTER_REPLICATION_SLOT ${quotePgIdent(slot)} (FAILOVER true)`;
}

export interface FailoverSettings {
  readonly serverVersion: number;
  /** synchronized_standby_slots (17+): the physical slots of the standbys the logical slot may not overtake. */
  readonly synchronizedStandbySlots: string | null;
  readonly walLevel: string;
}

/**
 * What a FAILOVER slot needs on the primary: PostgreSQL 17+, and
 * synchronized_standby_slots naming the standbys' physical slots — otherwise walrelay may
 * confirm changes a standby has not received, and after a failover the synchronised slot
 * would be behind what Kafka holds (or unusable). Returns the problems, empty when none.
 */
export function failoverProblems(s: FailoverSettings): string[] {
  const problems: string[] = [];
  if (s.serverVersion < FAILOVER_MIN_VERSION) {
    problems.push(`FAILOVER slots need PostgreSQL 17 or later; the server is ${versionText(s.serverVersion)} (set slotFailover: false)`);
    return problems;
  }
  if (s.walLevel !== 'logical') problems.push(`wal_level is ${s.walLevel}; it must be logical`);
  if (!s.synchronizedStandbySlots || s.synchronizedStandbySlots.trim() === '') {
    problems.push(
      "synchronized_standby_slots is empty: set it to the standbys' physical replication slots (ALTER SYSTEM SET synchronized_standby_slots = 'standby1_slot'; SELECT pg_reload_conf()), and on each standby sync_replication_slots = on, hot_standby_feedback = on and primary_slot_name",
    );
  }
  return problems;
}

export async function failoverSettings(client: pg.Client): Promise<FailoverSettings> {
  const v = Number((await client.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v);
  const res = await client.query(
    `SELECT current_setting('wal_level') AS wal_level, ${v >= FAILOVER_MIN_VERSION ? "current_setting('synchronized_standby_slots', true)" : 'NULL::text'} AS sss`,
  );
  return { serverVersion: v, walLevel: res.rows[0].wal_level as string, synchronizedStandbySlots: (res.rows[0].sss as string | null) ?? null };
}

/** Preflight of `slotFailover: true`: a ConfigError naming each setting to change. */
export async function checkFailover(client: pg.Client, slot: string): Promise<FailoverSettings> {
  const s = await failoverSettings(client);
  const problems = failoverProblems(s);
  if (problems.length > 0) throw new ConfigError(`slotFailover: true for slot ${slot}, but ${problems.join('; ')}`);
  return s;
}

/**
 * Whether the checkpoint follows a slot walrelay created or streamed from: it then
 * must exist. A checkpoint that only says the initial snapshot is owed (written before
 * the slot is created, no consistent point yet) does not.
 */
export function checkpointFollowsSlot(cp: SourceCheckpoint, stored: boolean): boolean {
  if (!stored) return false;
  if (cp.snapshot === 'RUNNING' && cp.snapshotConsistentLsn === null) return false;
  return cp.slotCreatedMs != null || cp.endLsn > 0n || cp.snapshot !== 'NONE';
}

/** The error of `onSlotLost: fail`: what happened, since when the checkpoint has data, the options. */
export function slotLostError(slot: string, database: string, cp: SourceCheckpoint): ReplicationError {
  const since = cp.slotCreatedMs != null ? `walrelay created it at ${new Date(Number(cp.slotCreatedMs)).toISOString()}` : 'its creation time is not recorded (checkpoint written by walrelay 0.1)';
  const updated = cp.updatedMs != null ? `, last checkpoint written at ${new Date(Number(cp.updatedMs)).toISOString()}` : '';
  return new ReplicationError(
    `replication slot ${slot} is gone from database ${database}, but the Kafka checkpoint follows it (${since}; published up to LSN ${formatLsn(cp.endLsn)}${updated}). ` +
      'Changes made while it was gone are not in Kafka, and rows deleted then stay in every target. ' +
      'Options: (1) re-create the pipeline: delete the checkpoint (the source then creates the slot and takes a new initial snapshot; targets keep rows deleted in the gap unless rebuilt from new topics), ' +
      '(2) set onSlotLost: resync and start again: the source creates the slot, truncates every captured table in the targets and reads each again (rows deleted in the gap are then gone too). The source will not create a new slot on its own.',
    { details: { slot, slotLost: true, endLsn: formatLsn(cp.endLsn) } },
  );
}

export async function ensureSlotFailover(client: pg.Client, slot: string, alter: (sql: string) => Promise<void>, log: Logger): Promise<void> {
  const res = await client.query('SELECT failover FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  if (res.rows[0] && res.rows[0].failover !== true && res.rows[0].failover !== 't') {
    await alter(alterSlotFailoverCommand(slot));
    log.info({ slot }, 'turned FAILOVER on for the existing slot');
  }
}

function versionText(v: number): string {
  return `${Math.floor(v / 10000)}.${v % 10000}`;
}
