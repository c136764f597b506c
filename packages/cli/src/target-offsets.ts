import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import sql from 'mssql';
import { ConnectionError, errorMessage, redactUrl } from '@walrelay/core';
import { lsnFromSigned } from '@walrelay/sink';
import { parseMysqlUrl } from '@walrelay/sink-mysql';
import { parseMssqlUrl } from '@walrelay/sink-mssql';
import { sqlitePath } from '@walrelay/sink-sqlite';

/** One row of a target's `walrelay_offsets`. */
export interface TargetOffsetRow {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: bigint;
  readonly sourceLsn: bigint | null;
  /** When the sink committed it (UTC, ISO text). */
  readonly updatedAt: string;
}

/** One row of a target's `walrelay_table_owners`: which topic writes a target table. */
export interface TableOwnerRow {
  readonly table: string;
  readonly topic: string;
  readonly source: string;
  readonly claimedAt: string;
}

export interface TargetOffsets {
  /** The target URL with its password hidden. */
  readonly target: string;
  /** mysql, mssql or sqlite: also the suffix of the sink's dead-letter topic. */
  readonly dialect: string;
  /** null when the target has no walrelay_offsets table (no sink ever ran there). */
  readonly rows: TargetOffsetRow[] | null;
  /** The target-name claims (empty when the target has no walrelay_table_owners table yet). */
  readonly owners: TableOwnerRow[];
}

export function targetDialect(url: string): string {
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql';
  if (/^(mssql|sqlserver):\/\//i.test(url)) return 'mssql';
  return 'sqlite';
}

const TABLE = 'walrelay_offsets';
const OWNERS = 'walrelay_table_owners';

interface RawOwner {
  target_table: string;
  topic: string;
  source_table: string;
  claimed_at: string | Date;
}

function utcText(v: string | Date): string {
  return v instanceof Date ? v.toISOString() : `${String(v).replace(' ', 'T')}${/Z|[+-]\d\d:?\d\d$/.test(String(v)) ? '' : 'Z'}`;
}

function toOwner(r: RawOwner): TableOwnerRow {
  return { table: r.target_table, topic: r.topic, source: r.source_table, claimedAt: utcText(r.claimed_at) };
}

/**
 * Reads every row of a target's walrelay_offsets, read-only: the file of a SQLite target
 * is opened read-only and must exist (status never creates a target).
 */
export async function readTargetOffsets(url: string): Promise<TargetOffsets> {
  const dialect = targetDialect(url);
  const target = redactUrl(url);
  try {
    if (dialect === 'sqlite') return { target, dialect, ...readSqlite(url) };
    if (dialect === 'mysql') return { target, dialect, ...(await readMysql(url)) };
    return { target, dialect, ...(await readMssql(url)) };
  } catch (e) {
    if (e instanceof ConnectionError) throw e;
    throw new ConnectionError(dialect, `cannot read ${TABLE} of ${target}: ${errorMessage(e)}`, { cause: e });
  }
}

interface RawRow {
  group_id: string;
  topic: string;
  kafka_partition: number | bigint | string;
  next_offset: string | bigint | number;
  source_lsn: string | bigint | number | null;
  updated_at: string | Date;
}

function toRow(r: RawRow): TargetOffsetRow {
  return {
    groupId: r.group_id,
    topic: r.topic,
    partition: Number(r.kafka_partition),
    nextOffset: BigInt(r.next_offset),
    sourceLsn: r.source_lsn === null ? null : lsnFromSigned(BigInt(r.source_lsn)),
    updatedAt: utcText(r.updated_at),
  };
}

type Read = { rows: TargetOffsetRow[] | null; owners: TableOwnerRow[] };

function readSqlite(url: string): Read {
  const path = sqlitePath(url);
  if (path !== ':memory:' && !existsSync(path)) {
    throw new ConnectionError('sqlite', `target file ${path} does not exist`);
  }
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const has = (t: string): boolean => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined;
    const owners = has(OWNERS) ? (db.prepare(`SELECT "target_table", "topic", "source_table", "claimed_at" FROM "${OWNERS}" ORDER BY "target_table"`).all() as RawOwner[]).map(toOwner) : [];
    if (!has(TABLE)) return { rows: null, owners };
    const rows = db
      .prepare(`SELECT "group_id", "topic", "kafka_partition", "next_offset", "source_lsn", "updated_at" FROM "${TABLE}" ORDER BY "group_id", "topic", "kafka_partition"`)
      .all() as RawRow[];
    return { rows: rows.map(toRow), owners };
  } finally {
    db.close();
  }
}

async function readMysql(url: string): Promise<Read> {
  const u = parseMysqlUrl(url);
  const conn = await mysql.createConnection({
    host: u.host,
    port: u.port,
    user: u.user,
    password: u.password,
    database: u.database,
    connectTimeout: 10_000,
    timezone: 'Z',
    dateStrings: true,
    ...(u.ssl ? { ssl: u.ssl } : {}),
  });
  try {
    const has = async (t: string): Promise<boolean> => ((await conn.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [t]))[0] as unknown[]).length > 0;
    const owners = (await has(OWNERS))
      ? ((await conn.query("SELECT `target_table`, `topic`, `source_table`, DATE_FORMAT(`claimed_at`, '%Y-%m-%dT%H:%i:%s.%fZ') AS `claimed_at` FROM `walrelay_table_owners` ORDER BY `target_table`"))[0] as RawOwner[]).map(toOwner)
      : [];
    if (!(await has(TABLE))) return { rows: null, owners };
    const [rows] = await conn.query(
      'SELECT `group_id`, `topic`, `kafka_partition`, CAST(`next_offset` AS CHAR) AS `next_offset`, CAST(`source_lsn` AS CHAR) AS `source_lsn`, ' +
        "DATE_FORMAT(`updated_at`, '%Y-%m-%dT%H:%i:%s.%fZ') AS `updated_at` FROM `walrelay_offsets` ORDER BY `group_id`, `topic`, `kafka_partition`",
    );
    return { rows: (rows as RawRow[]).map(toRow), owners };
  } finally {
    await conn.end();
  }
}

async function readMssql(url: string): Promise<Read> {
  const u = parseMssqlUrl(url);
  const schema = u.schema ?? 'dbo';
  const pool = new sql.ConnectionPool({
    server: u.server,
    port: u.port,
    database: u.database,
    user: u.user,
    password: u.password,
    options: { encrypt: u.encrypt, trustServerCertificate: u.trustServerCertificate, ...(u.instanceName ? { instanceName: u.instanceName } : {}) },
    connectionTimeout: 10_000,
  });
  await pool.connect();
  try {
    const object = `[${schema.replace(/]/g, ']]')}].[${TABLE}]`;
    const ownersObject = `[${schema.replace(/]/g, ']]')}].[${OWNERS}]`;
    const has = async (o: string): Promise<boolean> => (await pool.request().input('object', sql.NVarChar, o).query("SELECT OBJECT_ID(@object, N'U') AS id")).recordset[0]?.id !== null;
    const owners = (await has(ownersObject))
      ? ((await pool.request().query(`SELECT [target_table], [topic], [source_table], CONVERT(VARCHAR(30), [claimed_at], 126) + 'Z' AS [claimed_at] FROM ${ownersObject} ORDER BY [target_table]`)).recordset as RawOwner[]).map(toOwner)
      : [];
    if (!(await has(object))) return { rows: null, owners };
    const res = await pool
      .request()
      .query(
        `SELECT [group_id], [topic], [kafka_partition], CAST([next_offset] AS VARCHAR(20)) AS [next_offset], CAST([source_lsn] AS VARCHAR(20)) AS [source_lsn], ` +
          `CONVERT(VARCHAR(30), [updated_at], 126) + 'Z' AS [updated_at] FROM ${object} ORDER BY [group_id], [topic], [kafka_partition]`,
      );
    return { rows: (res.recordset as RawRow[]).map(toRow), owners };
  } finally {
    await pool.close();
  }
}
