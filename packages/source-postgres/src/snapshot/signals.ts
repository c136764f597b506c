import type pg from 'pg';
import { ConfigError, errorMessage, type Logger } from '@walrelay/core';
import { parseTableName } from '../config.js';
import { quotePgIdent } from '../replication/connection.js';
import type { KnownTable } from '../publish/checkpoint.js';

/** `incremental.signalTable` as schema and table. */
export function parseSignalTable(spec: string): KnownTable {
  try {
    return parseTableName(spec);
  } catch (e) {
    throw new ConfigError(`incremental.signalTable: ${errorMessage(e)}`);
  }
}

/** The signal table's definition: one row per signal, ordered with the data by the slot. */
export function signalTableDdl(t: KnownTable): string {
  return `CREATE TABLE IF NOT EXISTS ${quotePgIdent(t.schema)}.${quotePgIdent(t.table)} (
    id bigserial PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('execute-snapshot', 'stop-snapshot')),
    data jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
  )`;
}

/** Creates the signal table when missing (a warning, not a failure, when the role may not). */
export async function ensureSignalTable(client: pg.Client, t: KnownTable, log: Logger): Promise<void> {
  try {
    await client.query(signalTableDdl(t));
  } catch (e) {
    log.warn({ signalTable: `${t.schema}.${t.table}`, err: errorMessage(e) }, 'could not create the signal table: SQL signals are not available until it exists and is in the publication');
  }
}

export interface SnapshotSignal {
  readonly type: 'execute-snapshot' | 'stop-snapshot';
  /** `schema.table` names (quoted parts allowed); for stop-snapshot, none = every snapshot on request. */
  readonly tables: readonly string[];
  /** A WHERE fragment (execute-snapshot only). */
  readonly condition?: string;
}

/** Inserts a signal; the source sees it in commit order through the slot. Returns its id. */
export async function insertSignal(client: pg.Client, t: KnownTable, signal: SnapshotSignal): Promise<string> {
  for (const name of signal.tables) parseTableName(name);
  const data: Record<string, unknown> = { tables: signal.tables };
  if (signal.condition) data.condition = signal.condition;
  const res = await client.query(`INSERT INTO ${quotePgIdent(t.schema)}.${quotePgIdent(t.table)} (type, data) VALUES ($1, $2::jsonb) RETURNING id::text AS id`, [
    signal.type,
    JSON.stringify(data),
  ]);
  return res.rows[0].id as string;
}
