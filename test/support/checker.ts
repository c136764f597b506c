import type pg from 'pg';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import mssql from 'mssql';
import type { ColumnSpec } from '@walrelay/core';
import { describeTableByName } from '../../packages/source-postgres/src/catalog.js';
import { q } from './postgres.js';

/**
 * The consistency checker: compares a replicated table in a target with its
 * PostgreSQL source row by row, through one canonical text per value, and reports
 * the first differing keys.
 */

export type TargetRows = () => Promise<Record<string, unknown>[]>;

export interface Difference {
  readonly key: string;
  readonly problem: string;
}

export interface CheckResult {
  readonly sourceRows: number;
  readonly targetRows: number;
  readonly differences: readonly Difference[];
}

export function pgExpr(c: ColumnSpec): string {
  const col = q(c.name);
  switch (c.kind) {
    case 'boolean':
      return `CASE WHEN ${col} IS NULL THEN NULL WHEN ${col} THEN '1' ELSE '0' END`;
    case 'bytes':
      return `encode(${col}, 'hex')`;
    case 'timestamp':
      return `to_char(${col}, 'YYYY-MM-DD HH24:MI:SS.US')`;
    case 'timestamptz':
      return `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
    case 'array':
      return `array_to_json(${col})::text`;
    default:
      return `${col}::text`;
  }
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/** One canonical text per value, from whichever side it comes. */
export function canonical(c: ColumnSpec, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  switch (c.kind) {
    case 'boolean':
      return v === true || v === 1 || v === 1n || v === '1' || v === 't' || v === 'true' ? '1' : '0';
    case 'int16':
    case 'int32':
    case 'int64':
      return BigInt(v as string).toString();
    case 'float32':
    case 'float64': {
      const n = typeof v === 'string' && /^-?infinity$/i.test(v) ? (v.startsWith('-') ? -Infinity : Infinity) : Number(v);
      return Number.isNaN(n) ? 'NaN' : c.kind === 'float32' ? String(Math.fround(n)) : String(n);
    }
    case 'bytes':
      return Buffer.isBuffer(v) ? v.toString('hex') : String(v);
    case 'json':
      if (typeof v === 'object' && !Buffer.isBuffer(v)) return stable(v); // mysql2 parses JSON columns
      try {
        return stable(JSON.parse(String(v)));
      } catch {
        return String(v);
      }
    case 'array':
      return stable(typeof v === 'string' ? JSON.parse(v) : v);
    case 'time': {
      const s = String(v);
      return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
    }
    case 'timestamp':
    case 'timestamptz': {
      const s = String(v).replace('T', ' ').replace(/Z$/, '');
      return s.includes('.') ? s : `${s}.000000`;
    }
    default:
      return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
}

/** Compares `schema.table` in PostgreSQL with the target's rows. */
export async function compareTable(db: pg.Client, schema: string, table: string, targetRows: TargetRows, maxDifferences = 10, keyNames?: readonly string[]): Promise<CheckResult> {
  const shape = await describeTableByName(db, schema, table);
  const cols = shape.columns;
  // The rows' identity: the table's key, or the configured key columns (keyColumns) of a table without one.
  const keyCols = keyNames ? keyNames.map((n) => cols.find((c) => c.name === n)!) : cols.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  await db.query("SET IntervalStyle = 'iso_8601'; SET TimeZone = 'UTC'; SET extra_float_digits = 3");
  const src = await db.query({
    text: `SELECT ${cols.map(pgExpr).join(', ')} FROM ${q(schema)}.${q(table)}`,
    rowMode: 'array',
  });
  const keyOf = (values: (string | null)[]): string => keyCols.map((k) => values[cols.indexOf(k)]).join('|');
  const source = new Map<string, (string | null)[]>();
  for (const row of src.rows as unknown[][]) {
    const values = cols.map((c, i) => canonical(c, row[i]));
    source.set(keyOf(values), values);
  }
  const target = new Map<string, (string | null)[]>();
  const differences: Difference[] = [];
  for (const row of await targetRows()) {
    const values = cols.map((c) => canonical(c, row[c.name]));
    const k = keyOf(values);
    if (target.has(k)) differences.push({ key: k, problem: 'key appears twice in the target' });
    target.set(k, values);
  }
  for (const [k, values] of source) {
    if (differences.length >= maxDifferences) break;
    const t = target.get(k);
    if (!t) {
      differences.push({ key: k, problem: 'missing in the target' });
      continue;
    }
    for (let i = 0; i < cols.length; i++) {
      if (values[i] !== t[i]) {
        differences.push({ key: k, problem: `column ${cols[i]!.name}: source ${JSON.stringify(values[i])?.slice(0, 80)} target ${JSON.stringify(t[i])?.slice(0, 80)}` });
        break;
      }
    }
  }
  for (const k of target.keys()) {
    if (differences.length >= maxDifferences) break;
    if (!source.has(k)) differences.push({ key: k, problem: 'in the target but not in the source' });
  }
  return { sourceRows: source.size, targetRows: target.size, differences };
}

export function sqliteRows(file: string, table: string): TargetRows {
  return async () => {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
      if (!exists) return [];
      return db.prepare(`SELECT * FROM "${table.replace(/"/g, '""')}"`).safeIntegers(true).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };
}

/** MySQL connection options that read values as the checker's canonical forms expect. */
export const MYSQL_EXACT_OPTIONS = { dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, jsonStrings: true } as const;

/**
 * The select list that reads a MySQL table losslessly: FLOAT columns cast to DOUBLE (the
 * text protocol prints a FLOAT with 6 significant digits, so 1000.125 would read as
 * 1000.12 although stored exactly). Use with MYSQL_EXACT_OPTIONS.
 */
export async function mysqlExactColumns(conn: mysql.Connection, table: string): Promise<string> {
  const quote = (n: string): string => `\`${n.replace(/`/g, '``')}\``;
  const [cols] = await conn.query(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ORDINAL_POSITION',
    [table],
  );
  return (cols as { name: string; type: string }[])
    .map((c) => (c.type.toLowerCase() === 'float' ? `CAST(${quote(c.name)} AS DOUBLE) AS ${quote(c.name)}` : quote(c.name)))
    .join(', ');
}

/**
 * `exact`: read every value losslessly: FLOAT columns as DOUBLE (the text protocol prints a
 * FLOAT with 6 significant digits, so 3.4028235e38 would read as 3.40282e38 although stored
 * exactly), and JSON as its text (mysql2 parses it, and a JSON string scalar `"s"` would
 * read as the bare text s).
 */
export function mysqlRows(url: string, table: string, options: { exact?: boolean } = {}): TargetRows {
  return async () => {
    const conn = await mysql.createConnection({ uri: url, ...(options.exact ? MYSQL_EXACT_OPTIONS : { dateStrings: true, supportBigNumbers: true, bigNumberStrings: true }) });
    try {
      const [exists] = await conn.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
      if ((exists as unknown[]).length === 0) return [];
      const quote = (n: string): string => `\`${n.replace(/`/g, '``')}\``;
      const list = options.exact ? await mysqlExactColumns(conn, table) : '*';
      const [rows] = await conn.query(`SELECT ${list} FROM ${quote(table)}`);
      return rows as Record<string, unknown>[];
    } finally {
      await conn.end();
    }
  };
}

/**
 * Rows of `[schema].[table]` in SQL Server, each value in the text the checker compares:
 * dates and times as ISO text with microseconds, decimals as text (the driver would give
 * a lossy JS number), uniqueidentifiers in lower case as PostgreSQL writes them.
 */
export function mssqlRows(url: string, schema: string, table: string): TargetRows {
  return async () => {
    const u = new URL(url);
    const flag = (name: string, fallback: boolean): boolean => {
      const v = u.searchParams.get(name);
      return v === null ? fallback : ['true', '1', 'yes'].includes(v.toLowerCase());
    };
    const pool = new mssql.ConnectionPool({
      server: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 1433,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.replace(/^\//, '')),
      options: { encrypt: flag('encrypt', true), trustServerCertificate: flag('trustServerCertificate', false), useUTC: true },
    });
    await pool.connect();
    try {
      const object = `[${schema.replace(/]/g, ']]')}].[${table.replace(/]/g, ']]')}]`;
      const cols = await pool
        .request()
        .input('schema', mssql.NVarChar, schema)
        .input('table', mssql.NVarChar, table)
        .query<{ name: string; type: string }>(
          'SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @schema AND TABLE_NAME = @table ORDER BY ORDINAL_POSITION',
        );
      if (cols.recordset.length === 0) return [];
      const list = cols.recordset.map(({ name, type }) => {
        const c = `[${name.replace(/]/g, ']]')}]`;
        switch (type.toLowerCase()) {
          case 'date':
            return `CONVERT(varchar(10), ${c}, 23) AS ${c}`;
          case 'datetime2':
            return `LEFT(CONVERT(varchar(27), ${c}, 121), 26) AS ${c}`;
          case 'time':
            return `CONVERT(varchar(16), ${c}) AS ${c}`;
          case 'decimal':
          case 'numeric':
            return `CONVERT(varchar(100), ${c}) AS ${c}`;
          case 'uniqueidentifier':
            return `LOWER(CONVERT(varchar(36), ${c})) AS ${c}`;
          case 'bigint':
            return `CONVERT(varchar(20), ${c}) AS ${c}`;
          default:
            return c;
        }
      });
      const rows = await pool.request().query(`SELECT ${list.join(', ')} FROM ${object}`);
      return rows.recordset as Record<string, unknown>[];
    } finally {
      await pool.close();
    }
  };
}

export function formatCheck(name: string, r: CheckResult): string {
  return `${name}: ${r.sourceRows} source rows, ${r.targetRows} target rows, ${r.differences.length === 0 ? 'equal' : `differences:\n  ${r.differences.map((d) => `${d.key}: ${d.problem}`).join('\n  ')}`}`;
}
