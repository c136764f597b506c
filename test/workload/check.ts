import { createHash } from 'node:crypto';
import type pg from 'pg';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import type { ColumnSpec } from '@walrelay/core';
import { describeTableByName } from '../../packages/source-postgres/src/catalog.js';
import { canonical, compareTable, MYSQL_EXACT_OPTIONS, mysqlExactColumns, mysqlRows, pgExpr, sqliteRows, type CheckResult, type Difference } from '../support/checker.js';
import { q } from '../support/postgres.js';

/**
 * Checks a target against PostgreSQL after a workload:
 *  - every replicated table: row by row (test/support/checker.ts), or for large tables with a
 *    single integer key, an ordered per-key checksum merge (keyset pages from both sides, one
 *    hash of the canonical values per row), so memory stays bounded;
 *  - the insert-only audit table: count equal to the source's, ids 1..max with no gap and no
 *    duplicate, on both sides.
 * Every check reports the first differing keys.
 */

export type Target = { readonly kind: 'sqlite'; readonly file: string } | { readonly kind: 'mysql'; readonly url: string };

export interface TableCheck extends CheckResult {
  readonly table: string;
  readonly mode: 'rows' | 'checksum';
}

export interface AuditCheck {
  readonly sourceCount: number;
  readonly sourceMax: number;
  readonly targetCount: number;
  readonly targetMin: number | null;
  readonly targetMax: number | null;
  readonly targetDistinct: number;
  readonly problems: readonly string[];
}

export function targetName(t: Target): string {
  return t.kind === 'sqlite' ? `sqlite(${t.file})` : `mysql(${t.url.replace(/\/\/[^@]*@/, '//')})`;
}

/** Tables with more rows than this are compared by ordered per-key checksums when their key is one integer column. */
export const CHECKSUM_THRESHOLD = 20_000;

type KeyedHash = [bigint, string];

function rowHash(values: (string | null)[]): string {
  return createHash('sha1').update(JSON.stringify(values)).digest('base64');
}

async function* pgPages(db: pg.Client, schema: string, table: string, cols: readonly ColumnSpec[], key: ColumnSpec, page: number): AsyncGenerator<KeyedHash> {
  let last: string | null = null;
  await db.query("SET IntervalStyle = 'iso_8601'; SET TimeZone = 'UTC'; SET extra_float_digits = 3");
  for (;;) {
    const r: pg.QueryArrayResult = await db.query({
      // Qualified key: a bare ORDER BY name would sort by the select list's text cast of it.
      text: `SELECT ${cols.map(pgExpr).join(', ')} FROM ${q(schema)}.${q(table)} t ${last === null ? '' : `WHERE t.${q(key.name)} > ${last}`} ORDER BY t.${q(key.name)} LIMIT ${page}`,
      rowMode: 'array',
    });
    const ki = cols.indexOf(key);
    for (const row of r.rows as unknown[][]) {
      const values = cols.map((c, i) => canonical(c, row[i]));
      yield [BigInt(values[ki] as string), rowHash(values)];
    }
    if (r.rows.length < page) return;
    last = String((r.rows[r.rows.length - 1] as unknown[])[ki]);
  }
}

async function* targetPages(t: Target, table: string, cols: readonly ColumnSpec[], key: ColumnSpec, page: number): AsyncGenerator<KeyedHash> {
  const qi = (n: string): string => (t.kind === 'sqlite' ? `"${n.replace(/"/g, '""')}"` : `\`${n.replace(/`/g, '``')}\``);
  let last: bigint | null = null;
  if (t.kind === 'sqlite') {
    const db = new Database(t.file, { readonly: true, fileMustExist: true });
    try {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) return;
      for (;;) {
        const rows = db
          .prepare(`SELECT * FROM ${qi(table)} ${last === null ? '' : `WHERE ${qi(key.name)} > ?`} ORDER BY ${qi(key.name)} LIMIT ${page}`)
          .safeIntegers(true)
          .all(...(last === null ? [] : [last])) as Record<string, unknown>[];
        for (const row of rows) {
          const values = cols.map((c) => canonical(c, row[c.name]));
          yield [BigInt(row[key.name] as bigint), rowHash(values)];
        }
        if (rows.length < page) return;
        last = BigInt(rows[rows.length - 1]![key.name] as bigint);
      }
    } finally {
      db.close();
    }
  } else {
    const conn = await mysql.createConnection({ uri: t.url, ...MYSQL_EXACT_OPTIONS });
    try {
      const [exists] = await conn.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
      if ((exists as unknown[]).length === 0) return;
      const list = await mysqlExactColumns(conn, table);
      for (;;) {
        const [res] = await conn.query(`SELECT ${list} FROM ${qi(table)} ${last === null ? '' : `WHERE ${qi(key.name)} > ${last}`} ORDER BY ${qi(key.name)} LIMIT ${page}`);
        const rows = res as Record<string, unknown>[];
        for (const row of rows) {
          const values = cols.map((c) => canonical(c, row[c.name]));
          yield [BigInt(row[key.name] as string), rowHash(values)];
        }
        if (rows.length < page) return;
        last = BigInt(rows[rows.length - 1]![key.name] as string);
      }
    } finally {
      await conn.end();
    }
  }
}

/** Ordered per-key checksum comparison (single integer key). */
export async function checksumCompare(db: pg.Client, schema: string, table: string, target: Target, maxDifferences = 10, page = 5_000): Promise<CheckResult> {
  const shape = await describeTableByName(db, schema, table);
  const cols = shape.columns;
  const key = cols.find((c) => c.key !== null)!;
  const src = pgPages(db, schema, table, cols, key, page);
  const dst = targetPages(target, table, cols, key, page);
  const differences: Difference[] = [];
  let sourceRows = 0;
  let targetRows = 0;
  let a = await src.next();
  let b = await dst.next();
  while (!a.done || !b.done) {
    if (!a.done && (b.done || a.value[0] < b.value[0])) {
      sourceRows++;
      if (differences.length < maxDifferences) differences.push({ key: String(a.value[0]), problem: 'missing in the target' });
      a = await src.next();
    } else if (!b.done && (a.done || b.value[0] < a.value[0])) {
      targetRows++;
      if (differences.length < maxDifferences) differences.push({ key: String(b.value[0]), problem: 'in the target but not in the source' });
      b = await dst.next();
    } else if (!a.done && !b.done) {
      sourceRows++;
      targetRows++;
      if (a.value[1] !== b.value[1] && differences.length < maxDifferences) differences.push({ key: String(a.value[0]), problem: 'row checksum differs' });
      a = await src.next();
      b = await dst.next();
    }
  }
  return { sourceRows, targetRows, differences };
}

/** Compares one table, choosing the mode by size and key shape. */
export async function checkTable(db: pg.Client, schema: string, table: string, target: Target, options: { checksumThreshold?: number } = {}): Promise<TableCheck> {
  const shape = await describeTableByName(db, schema, table);
  const keys = shape.columns.filter((c) => c.key !== null);
  const intKey = keys.length === 1 && ['int16', 'int32', 'int64'].includes(keys[0]!.kind);
  const count = Number((await db.query(`SELECT count(*)::int8 AS n FROM ${q(schema)}.${q(table)}`)).rows[0].n);
  if (intKey && count > (options.checksumThreshold ?? CHECKSUM_THRESHOLD)) {
    return { table, mode: 'checksum', ...(await checksumCompare(db, schema, table, target)) };
  }
  const rows = target.kind === 'sqlite' ? sqliteRows(target.file, table) : mysqlRows(target.url, table, { exact: true });
  return { table, mode: 'rows', ...(await compareTable(db, schema, table, rows)) };
}

/** The audit table: one target row per source row, ids 1..max with no gap and no duplicate. */
export async function checkAudit(db: pg.Client, schema: string, target: Target, table = 'audit'): Promise<AuditCheck> {
  const problems: string[] = [];
  const s = (await db.query(`SELECT count(*)::int8 AS n, count(DISTINCT id)::int8 AS d, coalesce(min(id), 0)::int8 AS lo, coalesce(max(id), 0)::int8 AS hi FROM ${q(schema)}.${q(table)}`)).rows[0];
  const sourceCount = Number(s.n);
  const sourceMax = Number(s.hi);
  if (sourceCount > 0 && (Number(s.lo) !== 1 || sourceMax !== sourceCount || Number(s.d) !== sourceCount)) {
    problems.push(`source audit ids are not 1..${sourceCount}: min ${s.lo} max ${s.hi} distinct ${s.d}`);
  }
  const sql = (qi: string) => `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM ${qi}`;
  let t: { n: unknown; d: unknown; lo: unknown; hi: unknown };
  // Gaps: ids whose successor is missing (first few), found with an anti-join on both sides of the gap.
  const gapSql = (qi: string) => `SELECT a.id AS id FROM ${qi} a LEFT JOIN ${qi} b ON b.id = a.id + 1 WHERE b.id IS NULL AND a.id < (SELECT max(id) FROM ${qi}) ORDER BY a.id LIMIT 5`;
  let gaps: unknown[] = [];
  if (target.kind === 'sqlite') {
    const tdb = new Database(target.file, { readonly: true, fileMustExist: true });
    try {
      if (!tdb.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) t = { n: 0, d: 0, lo: null, hi: null };
      else {
        t = tdb.prepare(sql(`"${table}"`)).get() as typeof t;
        gaps = (tdb.prepare(gapSql(`"${table}"`)).all() as { id: unknown }[]).map((r) => r.id);
      }
    } finally {
      tdb.close();
    }
  } else {
    const conn = await mysql.createConnection({ uri: target.url, supportBigNumbers: true, bigNumberStrings: true });
    try {
      const [exists] = await conn.query('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
      if ((exists as unknown[]).length === 0) t = { n: 0, d: 0, lo: null, hi: null };
      else {
        const [rows] = await conn.query(sql(`\`${table}\``));
        t = (rows as (typeof t)[])[0]!;
        const [g] = await conn.query(gapSql(`\`${table}\``));
        gaps = (g as { id: unknown }[]).map((r) => r.id);
      }
    } finally {
      await conn.end();
    }
  }
  const targetCount = Number(t.n);
  const targetDistinct = Number(t.d);
  const targetMin = t.lo === null ? null : Number(t.lo);
  const targetMax = t.hi === null ? null : Number(t.hi);
  if (targetCount !== sourceCount) problems.push(`target has ${targetCount} audit rows, source ${sourceCount}`);
  if (targetDistinct !== targetCount) problems.push(`duplicate ids in the target: ${targetCount - targetDistinct}`);
  if (sourceCount > 0 && targetMin !== 1) problems.push(`target audit ids start at ${targetMin}, not 1`);
  if (targetMax !== null && targetMax !== sourceMax) problems.push(`target max id ${targetMax}, source ${sourceMax}`);
  if (gaps.length > 0) problems.push(`gaps in the target after ids ${gaps.join(', ')}`);
  return { sourceCount, sourceMax, targetCount, targetMin, targetMax, targetDistinct, problems };
}

export interface TargetReport {
  readonly target: string;
  readonly tables: readonly TableCheck[];
  readonly audit: AuditCheck;
  readonly ok: boolean;
}

/** Checks every table of `tables` (the audit table with checkAudit as well) in one target. */
export async function checkTarget(db: pg.Client, schema: string, tables: readonly string[], target: Target, auditTable = 'audit'): Promise<TargetReport> {
  const results: TableCheck[] = [];
  for (const t of tables) results.push(await checkTable(db, schema, t, target));
  const audit = await checkAudit(db, schema, target, auditTable);
  const ok = results.every((r) => r.differences.length === 0) && audit.problems.length === 0;
  return { target: targetName(target), tables: results, audit, ok };
}

export function formatReport(r: TargetReport): string {
  const lines = [`${r.target}: ${r.ok ? 'EQUAL' : 'DIFFERENT'}`];
  for (const t of r.tables) {
    lines.push(`  ${t.table} [${t.mode}]: ${t.sourceRows} source rows, ${t.targetRows} target rows, ${t.differences.length === 0 ? 'equal' : 'differences:'}`);
    for (const d of t.differences) lines.push(`    ${d.key}: ${d.problem}`);
  }
  const a = r.audit;
  lines.push(`  audit: source ${a.sourceCount} rows (ids 1..${a.sourceMax}), target ${a.targetCount} rows, ${a.targetDistinct} distinct, ids ${a.targetMin}..${a.targetMax}: ${a.problems.length === 0 ? 'no gap, no duplicate' : a.problems.join('; ')}`);
  return lines.join('\n');
}
