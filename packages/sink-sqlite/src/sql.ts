import { IdentifierError, keyColumns, SchemaError, type SchemaColumn, type TableShape } from '@walrelay/core';

/**
 * Pure SQL builders for SQLite. Identifiers are always quoted with double quotes; values are
 * always `?` parameters. Declared types are the plain affinity names (INTEGER, REAL, TEXT,
 * BLOB) so SQLite never converts a value: decimals are TEXT (NUMERIC affinity would turn
 * '1.50' into the float 1.5).
 */

export const DEFAULT_OFFSETS_TABLE = 'walrelay_offsets';
/** SQLITE_MAX_VARIABLE_NUMBER of better-sqlite3's build (SQLite's default since 3.32). */
export const SQLITE_MAX_VARIABLES = 32_766;

export function quoteIdent(name: string): string {
  if (name.length === 0) throw new IdentifierError(name, 'SQLite identifier must not be empty');
  if (name.includes('\u0000')) throw new IdentifierError(name, `SQLite identifier ${JSON.stringify(name)} contains U+0000`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SQLite column type (affinity) of a column. Keys and non-keys map alike. */
export function columnType(col: SchemaColumn, _isKey = false): string {
  switch (col.kind) {
    case 'boolean':
    case 'int16':
    case 'int32':
    case 'int64':
      return 'INTEGER';
    case 'float32':
    case 'float64':
      return 'REAL';
    case 'bytes':
      return 'BLOB';
    case 'decimal':
    case 'numeric':
    case 'text':
    case 'uuid':
    case 'json':
    case 'date':
    case 'time':
    case 'timetz':
    case 'timestamp':
    case 'timestamptz':
    case 'interval':
    case 'enum':
    case 'array':
    case 'other':
      return 'TEXT';
    default:
      throw new SchemaError(`column ${(col as SchemaColumn).name}: unknown value kind ${(col as SchemaColumn).kind}`);
  }
}

export function createTableSql(table: string, shape: TableShape): string {
  const keys = keyColumns(shape);
  if (keys.length === 0) throw new SchemaError(`table ${shape.schema}.${shape.table} has no key columns; walrelay needs a primary key or replica identity index`);
  const lines = shape.columns.map((c) => `${quoteIdent(c.name)} ${columnType(c, c.key !== null)} ${c.key !== null || !c.nullable ? 'NOT NULL' : 'NULL'}`);
  lines.push(`PRIMARY KEY (${keys.map((k) => quoteIdent(k.name)).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (\n  ${lines.join(',\n  ')}\n)`;
}

/** SQLite adds one column per statement; added columns are nullable. */
export function addColumnSql(table: string, col: SchemaColumn): string {
  return `ALTER TABLE ${quoteIdent(table)} ADD COLUMN ${quoteIdent(col.name)} ${columnType(col, false)} NULL`;
}

function tuple(n: number): string {
  return `(${new Array<string>(n).fill('?').join(',')})`;
}

/**
 * Multi-row upsert writing only the given columns; on conflict the other columns keep
 * their values (unchanged TOAST columns).
 */
export function upsertSql(table: string, columns: readonly SchemaColumn[], rowCount: number): string {
  const keys = columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  if (keys.length === 0) throw new SchemaError(`upsert into ${table} has no key columns`);
  const nonKey = columns.filter((c) => c.key === null).map((c) => quoteIdent(c.name));
  const conflict = `ON CONFLICT (${keys.map((k) => quoteIdent(k.name)).join(', ')})`;
  const action = nonKey.length > 0 ? `DO UPDATE SET ${nonKey.map((n) => `${n}=excluded.${n}`).join(', ')}` : 'DO NOTHING';
  return `INSERT INTO ${quoteIdent(table)} (${columns.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${new Array<string>(rowCount).fill(tuple(columns.length)).join(', ')} ${conflict} ${action}`;
}

/** Deletes by key: `k IN (?,?)` or `(k1, k2) IN (VALUES (?,?), (?,?))`. */
export function deleteSql(table: string, keys: readonly SchemaColumn[], keyCount: number): string {
  if (keys.length === 1) return `DELETE FROM ${quoteIdent(table)} WHERE ${quoteIdent(keys[0]!.name)} IN ${tuple(keyCount)}`;
  return `DELETE FROM ${quoteIdent(table)} WHERE (${keys.map((k) => quoteIdent(k.name)).join(', ')}) IN (VALUES ${new Array<string>(keyCount).fill(tuple(keys.length)).join(', ')})`;
}

export function truncateSql(table: string): string {
  return `DELETE FROM ${quoteIdent(table)}`;
}

export const DEFAULT_OWNERS_TABLE = 'walrelay_table_owners';

/** SQLite compares table names without regard to ASCII case, so the claims do too (NOCASE). */
export function ownersTableSql(table = DEFAULT_OWNERS_TABLE): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (`,
    '  "target_table" TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,',
    '  "topic" TEXT NOT NULL,',
    '  "source_table" TEXT NOT NULL,',
    '  "claimed_at" TEXT NOT NULL',
    ')',
  ].join('\n');
}

/** Parameters: target_table, topic, source_table. Keeps an existing claim. */
export function claimTableSql(table = DEFAULT_OWNERS_TABLE): string {
  return (
    `INSERT INTO ${quoteIdent(table)} ("target_table", "topic", "source_table", "claimed_at") VALUES (?, ?, ?, strftime('%Y-%m-%d %H:%M:%f','now')) ` +
    'ON CONFLICT ("target_table") DO NOTHING'
  );
}

/** Parameter: target_table. */
export function tableOwnerSql(table = DEFAULT_OWNERS_TABLE): string {
  return `SELECT "target_table", "topic", "source_table" FROM ${quoteIdent(table)} WHERE "target_table" = ?`;
}

export function offsetsTableSql(table = DEFAULT_OFFSETS_TABLE): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (`,
    '  "group_id" TEXT NOT NULL,',
    '  "topic" TEXT NOT NULL,',
    '  "kafka_partition" INTEGER NOT NULL,',
    '  "next_offset" INTEGER NOT NULL,',
    '  "source_lsn" INTEGER NULL,',
    '  "updated_at" TEXT NOT NULL,',
    '  PRIMARY KEY ("group_id", "topic", "kafka_partition")',
    ')',
  ].join('\n');
}

/** Parameters per row: group_id, topic, kafka_partition, next_offset, source_lsn. */
export function saveOffsetsSql(rowCount: number, table = DEFAULT_OFFSETS_TABLE): string {
  const row = "(?,?,?,?,?,strftime('%Y-%m-%d %H:%M:%f','now'))";
  return (
    `INSERT INTO ${quoteIdent(table)} ("group_id", "topic", "kafka_partition", "next_offset", "source_lsn", "updated_at") ` +
    `VALUES ${new Array<string>(rowCount).fill(row).join(', ')} ` +
    'ON CONFLICT ("group_id", "topic", "kafka_partition") DO UPDATE SET "next_offset"=excluded."next_offset", "source_lsn"=excluded."source_lsn", "updated_at"=excluded."updated_at"'
  );
}

/**
 * The fence: the stored next offset of one partition, read inside the apply transaction
 * (BEGIN IMMEDIATE holds the database's write lock, so nobody moves it before COMMIT).
 * Parameters: group_id, topic, kafka_partition.
 */
export function fenceSql(table = DEFAULT_OFFSETS_TABLE): string {
  return `SELECT "next_offset" AS n FROM ${quoteIdent(table)} WHERE "group_id" = ? AND "topic" = ? AND "kafka_partition" = ?`;
}

export function loadOffsetsSql(table = DEFAULT_OFFSETS_TABLE): string {
  return `SELECT "topic", "kafka_partition", "next_offset", "source_lsn" FROM ${quoteIdent(table)} WHERE "group_id" = ? ORDER BY "topic", "kafka_partition"`;
}

export const EXISTING_COLUMNS_SQL = 'SELECT "name" FROM pragma_table_info(?) ORDER BY "cid"';
export const EXTRA_UNIQUE_INDEXES_SQL = `SELECT "name" FROM pragma_index_list(?) WHERE "unique" = 1 AND "origin" <> 'pk' ORDER BY "name"`;
/** Primary-key columns in key order (pragma table_info's `pk` is the 1-based position in the key; 0 = not in it). */
export const PRIMARY_KEY_SQL = 'SELECT "name" FROM pragma_table_info(?) WHERE "pk" > 0 ORDER BY "pk"';
