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

export interface TargetOffsets {
  /** The target URL with its password hidden. */
  readonly target: string;
  /** mysql, mssql or sqlite: also the suffix of the sink's dead-letter topic. */
  readonly dialect: string;
  /** null when the target has no walrelay_offsets table (no sink ever ran there). */
  readonly rows: TargetOffsetRow[] | null;
}

export function targetDialect(url: string): string {
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql';
  if (/^(mssql|sqlserver):\/\//i.test(url)) return 'mssql';
  return 'sqlite';
}

const TABLE = 'walrelay_offsets';

/**
 * Reads every row of a target's walrelay_offsets, read-only: the file of a SQLite target
 * is opened read-only and must exist (status never creates a target).
 */
export async function readTargetOffsets(url: string): Promise<TargetOffsets> {
  const dialect = targetDialect(url);
  const target = redactUrl(url);
  try {
    if (dialect === 'sqlite') return { target, dialect, rows: readSqlite(url) };
    if (dialect === 'mysql') return { target, dialect, rows: await readMysql(url) };
    return { target, dialect, rows: await readMssql(url) };
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
    updatedAt: r.updated_at instanceof Date ? r.updated_at.toISOString() : `${String(r.updated_at).replace(' ', 'T')}${/Z|[+-]\d\d:?\d\d$/.test(String(r.updated_at)) ? '' : 'Z'}`,
  };
}

function readSqlite(url: string): TargetOffsetRow[] | null {
  const path = sqlitePath(url);
  if (path !== ':memory:' && !path.startsWith('file:') && !existsSync(path)) {
    throw new ConnectionError('sqlite', `target file ${path} does not exist`);
  }
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(TABLE);
    if (!exists) return null;
    const rows = db
      .prepare(`SELECT "group_id", "topic", "kafka_partition", "next_offset", "source_lsn", "updated_at" FROM "${TABLE}" ORDER BY "group_id", "topic", "kafka_partition"`)
      .all() as RawRow[];
    return rows.map(toRow);
  } finally {
    db.close();
  }
}

async function readMysql(url: string): Promise<TargetOffsetRow[] | null> {
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
    const [exists] = await conn.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [TABLE]);
    if ((exists as unknown[]).length === 0) return null;
    const [rows] = await conn.query(
      'SELECT `group_id`, `topic`, `kafka_partition`, CAST(`next_offset` AS CHAR) AS `next_offset`, CAST(`source_lsn` AS CHAR) AS `source_lsn`, ' +
        "DATE_FORMAT(`updated_at`, '%Y-%m-%dT%H:%i:%s.%fZ') AS `updated_at` FROM `walrelay_offsets` ORDER BY `group_id`, `topic`, `kafka_partition`",
    );
    return (rows as RawRow[]).map(toRow);
  } finally {
    await conn.end();
  }
}

async function readMssql(url: string): Promise<TargetOffsetRow[] | null> {
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
    const exists = await pool.request().input('object', sql.NVarChar, object).query("SELECT OBJECT_ID(@object, N'U') AS id");
    if (exists.recordset[0]?.id === null) return null;
    const res = await pool
      .request()
      .query(
        `SELECT [group_id], [topic], [kafka_partition], CAST([next_offset] AS VARCHAR(20)) AS [next_offset], CAST([source_lsn] AS VARCHAR(20)) AS [source_lsn], ` +
          `CONVERT(VARCHAR(30), [updated_at], 126) + 'Z' AS [updated_at] FROM ${object} ORDER BY [group_id], [topic], [kafka_partition]`,
      );
    return (res.recordset as RawRow[]).map(toRow);
  } finally {
    await pool.close();
  }
}
