import { IdentifierError, keyColumns, SchemaError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';

/**
 * Pure SQL builders for MySQL 8 and MariaDB 10.x. Identifiers are always quoted with
 * backticks; values are always `?` placeholders (the driver binds them).
 */

export const MYSQL_IDENTIFIER_MAX = 64;
/** InnoDB (DYNAMIC/COMPRESSED rows): the whole primary key is at most 3072 bytes. */
export const MYSQL_KEY_BYTES = 3072;
/** MySQL's row size limit for the in-row part of all columns together. */
export const MYSQL_ROW_BYTES = 65_535;
export const MYSQL_DECIMAL_MAX_PRECISION = 65;
export const MYSQL_DECIMAL_MAX_SCALE = 30;
/** utf8mb4: up to 4 bytes per character. */
const UTF8MB4 = 4;
export const DEFAULT_OFFSETS_TABLE = 'walrelay_offsets';
export const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** Refuses what MySQL/MariaDB cannot name, with an IdentifierError naming the identifier. */
export function checkIdent(name: string): void {
  const chars = [...name];
  if (chars.length === 0) throw new IdentifierError(name, 'MySQL identifier must not be empty');
  if (chars.length > MYSQL_IDENTIFIER_MAX) {
    throw new IdentifierError(name, `MySQL identifier "${name}" is ${chars.length} characters long; MySQL allows at most ${MYSQL_IDENTIFIER_MAX}`);
  }
  if (name.includes('\u0000')) throw new IdentifierError(name, `MySQL identifier ${JSON.stringify(name)} contains U+0000`);
  if (chars.some((c) => c.codePointAt(0)! > 0xffff)) {
    throw new IdentifierError(name, `MySQL identifier "${name}" contains characters outside the Unicode BMP, which MySQL identifiers cannot hold`);
  }
  if (name.endsWith(' ')) throw new IdentifierError(name, `MySQL identifier "${name}" ends with a space, which MySQL does not allow`);
}

/** `name` → `name` with backticks doubled, after checking MySQL's identifier rules. */
export function quoteIdent(name: string): string {
  checkIdent(name);
  return '`' + name.replaceAll('`', '``') + '`';
}

/** True when a decimal(p,s) column fits MySQL's DECIMAL; otherwise it is stored as text. */
export function decimalFits(col: Pick<SchemaColumn, 'kind' | 'precision' | 'scale'>): boolean {
  if (col.kind !== 'decimal' || col.precision === undefined) return false;
  const scale = col.scale ?? 0;
  const precision = Math.max(col.precision, scale);
  return precision >= 1 && precision <= MYSQL_DECIMAL_MAX_PRECISION && scale >= 0 && scale <= MYSQL_DECIMAL_MAX_SCALE;
}

function fsp(col: SchemaColumn): number {
  const p = col.precision;
  return p === undefined || p < 0 || p > 6 ? 6 : p;
}

/** Bytes a fixed-size key column takes in the index, or null for variable (text/bytes) keys. */
function fixedKeyBytes(col: SchemaColumn): number | null {
  switch (col.kind) {
    case 'boolean':
      return 1;
    case 'int16':
      return 2;
    case 'int32':
    case 'float32':
      return 4;
    case 'int64':
    case 'float64':
    case 'timestamp':
    case 'timestamptz':
      return 8;
    case 'date':
      return 3;
    case 'time':
      return 6;
    case 'uuid':
      return 36;
    case 'decimal':
      return decimalFits(col) ? Math.ceil(Math.max(col.precision ?? 0, col.scale ?? 0) / 9) * 4 + 4 : null;
    default:
      return null;
  }
}

/** Bytes a variable key column would like (Infinity when unbounded). */
function wantedKeyBytes(col: SchemaColumn): number {
  if (col.kind === 'text' && col.length !== undefined && col.length > 0) return col.length * UTF8MB4;
  return Number.POSITIVE_INFINITY;
}

/**
 * Sizes of the variable-length key columns so the whole key fits InnoDB's 3072 bytes:
 * bounded columns get what they declare when it fits, the rest share what is left equally.
 * Returns, per column name, characters (text) or bytes (bytes) of the VARCHAR/VARBINARY.
 */
export function keyLengths(keys: readonly SchemaColumn[]): Map<string, number> {
  let budget = MYSQL_KEY_BYTES;
  const variable: SchemaColumn[] = [];
  for (const k of keys) {
    const fixed = fixedKeyBytes(k);
    if (fixed === null) variable.push(k);
    else budget -= fixed;
  }
  const perUnit = (c: SchemaColumn) => (c.kind === 'bytes' ? 1 : UTF8MB4);
  variable.sort((a, b) => wantedKeyBytes(a) - wantedKeyBytes(b));
  const out = new Map<string, number>();
  variable.forEach((col, i) => {
    const share = Math.floor(budget / (variable.length - i));
    const give = Math.max(perUnit(col), Math.min(wantedKeyBytes(col), share));
    budget -= give;
    out.set(col.name, Math.max(1, Math.floor(give / perUnit(col))));
  });
  return out;
}

const TEXT_KINDS: ReadonlySet<ValueKind> = new Set(['text', 'numeric', 'json', 'enum', 'interval', 'timetz', 'other', 'array', 'decimal']);

/**
 * The MySQL type of a column. Key columns get a type that can be part of a primary key:
 * text-like keys become VARCHAR(`keyLength` characters), bytes keys VARBINARY(`keyLength`).
 * Returns the type only (no NULL / NOT NULL; utf8mb4_bin comes from the table default).
 */
export function columnType(col: SchemaColumn, isKey: boolean, keyLength = Math.floor(MYSQL_KEY_BYTES / UTF8MB4)): string {
  switch (col.kind) {
    case 'boolean':
      return 'BOOLEAN';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INT';
    case 'int64':
      return 'BIGINT';
    case 'float32':
      return 'FLOAT';
    case 'float64':
      return 'DOUBLE';
    case 'uuid':
      return 'CHAR(36) CHARACTER SET ascii COLLATE ascii_bin';
    case 'date':
      return 'DATE';
    case 'time':
      return `TIME(${fsp(col)})`;
    case 'timestamp':
    case 'timestamptz':
      return `DATETIME(${fsp(col)})`;
    case 'bytes':
      return isKey ? `VARBINARY(${keyLength})` : 'LONGBLOB';
    case 'decimal':
      if (decimalFits(col)) return `DECIMAL(${Math.max(col.precision ?? 0, col.scale ?? 0)},${col.scale ?? 0})`;
      break;
    default:
      break;
  }
  if (!TEXT_KINDS.has(col.kind)) throw new SchemaError(`column ${col.name}: unknown value kind ${col.kind}`);
  if (isKey) return `VARCHAR(${col.kind === 'text' && col.length !== undefined && col.length > 0 ? Math.min(col.length, keyLength) : keyLength})`;
  switch (col.kind) {
    case 'json':
      return 'JSON';
    case 'enum':
    case 'interval':
      return 'VARCHAR(255)';
    case 'timetz':
      return 'VARCHAR(64)';
    case 'text':
      if (col.length !== undefined && col.length > 0) return varcharOrText(col.length);
      return 'LONGTEXT';
    default:
      return 'LONGTEXT'; // numeric, decimal beyond DECIMAL(65,30), array (JSON text), other
  }
}

function varcharOrText(chars: number): string {
  if (chars * UTF8MB4 + 2 <= MYSQL_ROW_BYTES) return `VARCHAR(${chars})`;
  return textTypeFor(chars);
}

/** The TEXT type that holds `chars` utf8mb4 characters (row-size fallback for VARCHAR). */
export function textTypeFor(chars: number): string {
  const bytes = chars * UTF8MB4;
  if (bytes <= 65_535) return 'TEXT';
  if (bytes <= 16_777_215) return 'MEDIUMTEXT';
  return 'LONGTEXT';
}

/** In-row bytes MySQL counts against the 65,535-byte row limit for a column type. */
export function rowBytes(sqlType: string): number {
  const m = /^VAR(?:CHAR|BINARY)\((\d+)\)/.exec(sqlType);
  if (m) {
    const n = Number(m[1]);
    const bytes = sqlType.startsWith('VARBINARY') ? n : n * UTF8MB4;
    return bytes + (bytes > 255 ? 2 : 1);
  }
  if (sqlType.startsWith('CHAR(36)')) return 36;
  if (/^(LONG|MEDIUM)?(TEXT|BLOB)$|^JSON$/.test(sqlType)) return 12;
  if (sqlType.startsWith('DECIMAL')) return 30;
  return 8;
}

export interface ColumnDef {
  readonly column: SchemaColumn;
  readonly sqlType: string;
  readonly isKey: boolean;
}

/**
 * Column types of a table. Non-key VARCHAR columns are turned into TEXT types, largest
 * first, while the declared row would exceed MySQL's 65,535-byte row limit.
 */
export function tableColumnDefs(shape: TableShape): ColumnDef[] {
  const keys = keyColumns(shape);
  if (keys.length === 0) throw new SchemaError(`table ${shape.schema}.${shape.table} has no key columns; walrelay needs a primary key or replica identity index`);
  const lengths = keyLengths(keys);
  const defs = shape.columns.map((column) => {
    const isKey = column.key !== null;
    return { column, isKey, sqlType: columnType(column, isKey, lengths.get(column.name)) };
  });
  const limit = MYSQL_ROW_BYTES - Math.ceil(defs.length / 8) - 64;
  let total = defs.reduce((sum, d) => sum + rowBytes(d.sqlType), 0);
  const candidates = defs
    .map((d, i) => ({ d, i }))
    .filter(({ d }) => !d.isKey && d.sqlType.startsWith('VARCHAR('))
    .sort((a, b) => rowBytes(b.d.sqlType) - rowBytes(a.d.sqlType));
  for (const { d, i } of candidates) {
    if (total <= limit) break;
    const chars = Number(/\((\d+)\)/.exec(d.sqlType)?.[1] ?? 0);
    const sqlType = textTypeFor(chars);
    total += rowBytes(sqlType) - rowBytes(d.sqlType);
    defs[i] = { ...d, sqlType };
  }
  return defs;
}

function columnDefSql(d: ColumnDef): string {
  return `${quoteIdent(d.column.name)} ${d.sqlType} ${d.isKey || !d.column.nullable ? 'NOT NULL' : 'NULL'}`;
}

export function createTableSql(table: string, shape: TableShape): string {
  const defs = tableColumnDefs(shape);
  const keys = keyColumns(shape);
  const lines = defs.map(columnDefSql);
  lines.push(`PRIMARY KEY (${keys.map((k) => quoteIdent(k.name)).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (\n  ${lines.join(',\n  ')}\n) ${TABLE_OPTIONS}`;
}

/** A VARCHAR(n) as the TEXT type that holds n characters (stored off-row: the row-size fallback); other types unchanged. */
export function varcharAsText(sqlType: string): string {
  return sqlType.startsWith('VARCHAR(') ? textTypeFor(Number(/\((\d+)\)/.exec(sqlType)?.[1] ?? 0)) : sqlType;
}

/** Adds columns (always nullable: existing rows have no value). `asText` demotes VARCHAR(n) to a TEXT type. */
export function addColumnSql(table: string, columns: readonly SchemaColumn[], asText = false): string {
  const parts = columns.map((col) => {
    let sqlType = columnType(col, false);
    if (asText) sqlType = varcharAsText(sqlType);
    return `ADD COLUMN ${quoteIdent(col.name)} ${sqlType} NULL`;
  });
  return `ALTER TABLE ${quoteIdent(table)} ${parts.join(', ')}`;
}

function placeholders(n: number): string {
  return `(${new Array<string>(n).fill('?').join(',')})`;
}

/**
 * Multi-row upsert. Only the given columns are written: on a duplicate key the other
 * columns keep their values (how unchanged TOAST columns are honoured). `VALUES(c)` works
 * on MariaDB and MySQL 8 (where the `AS new` alias would not work on MariaDB).
 */
export function upsertSql(table: string, columns: readonly SchemaColumn[], rowCount: number): string {
  const names = columns.map((c) => quoteIdent(c.name));
  const row = placeholders(columns.length);
  const nonKey = columns.filter((c) => c.key === null).map((c) => quoteIdent(c.name));
  // Only key columns: a no-op assignment keeps the statement an upsert without IGNORE (which would hide errors).
  const updates = nonKey.length > 0 ? nonKey.map((n) => `${n}=VALUES(${n})`) : [`${names[0]}=${names[0]}`];
  return `INSERT INTO ${quoteIdent(table)} (${names.join(',')}) VALUES ${new Array<string>(rowCount).fill(row).join(',')} ON DUPLICATE KEY UPDATE ${updates.join(',')}`;
}

/** Deletes by key: `k IN (?,?)`, or row values `(k1,k2) IN ((?,?),(?,?))` for composite keys. */
export function deleteSql(table: string, keys: readonly SchemaColumn[], keyCount: number): string {
  if (keys.length === 1) {
    return `DELETE FROM ${quoteIdent(table)} WHERE ${quoteIdent(keys[0]!.name)} IN ${placeholders(keyCount)}`;
  }
  const tuple = `(${keys.map((k) => quoteIdent(k.name)).join(',')})`;
  return `DELETE FROM ${quoteIdent(table)} WHERE ${tuple} IN (${new Array<string>(keyCount).fill(placeholders(keys.length)).join(',')})`;
}

/** `TRUNCATE TABLE` commits implicitly in MySQL, which would break the batch's transaction: DELETE instead. */
export function truncateSql(table: string): string {
  return `DELETE FROM ${quoteIdent(table)}`;
}

export const DEFAULT_OWNERS_TABLE = 'walrelay_table_owners';

/** Which topic writes each target table (utf8mb4_bin: names compare as the server's table names do with lower_case_table_names = 0). */
export function ownersTableSql(table = DEFAULT_OWNERS_TABLE): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (`,
    '  `target_table` VARCHAR(64) NOT NULL,',
    '  `topic` VARCHAR(249) NOT NULL,',
    '  `source_table` VARCHAR(255) NOT NULL,',
    '  `claimed_at` DATETIME(6) NOT NULL,',
    '  PRIMARY KEY (`target_table`)',
    `) ${TABLE_OPTIONS}`,
  ].join('\n');
}

/** Parameters: target_table, topic, source_table. Keeps an existing claim (the no-op update only reports the duplicate). */
export function claimTableSql(table = DEFAULT_OWNERS_TABLE): string {
  return (
    `INSERT INTO ${quoteIdent(table)} (\`target_table\`, \`topic\`, \`source_table\`, \`claimed_at\`) VALUES (?, ?, ?, UTC_TIMESTAMP(6)) ` +
    'ON DUPLICATE KEY UPDATE `target_table` = `target_table`'
  );
}

/** Parameter: target_table. */
export function tableOwnerSql(table = DEFAULT_OWNERS_TABLE): string {
  return `SELECT \`target_table\`, \`topic\`, \`source_table\` FROM ${quoteIdent(table)} WHERE \`target_table\` = ?`;
}

export function offsetsTableSql(table = DEFAULT_OFFSETS_TABLE): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (`,
    '  `group_id` VARCHAR(255) NOT NULL,',
    '  `topic` VARCHAR(249) NOT NULL,',
    '  `kafka_partition` INT NOT NULL,',
    '  `next_offset` BIGINT NOT NULL,',
    '  `source_lsn` BIGINT NULL,',
    '  `updated_at` DATETIME(6) NOT NULL,',
    '  PRIMARY KEY (`group_id`, `topic`, `kafka_partition`)',
    `) ${TABLE_OPTIONS}`,
  ].join('\n');
}

/** Parameters per row: group_id, topic, kafka_partition, next_offset, source_lsn. */
export function saveOffsetsSql(rowCount: number, table = DEFAULT_OFFSETS_TABLE): string {
  const row = '(?,?,?,?,?,UTC_TIMESTAMP(6))';
  return (
    `INSERT INTO ${quoteIdent(table)} (\`group_id\`,\`topic\`,\`kafka_partition\`,\`next_offset\`,\`source_lsn\`,\`updated_at\`) ` +
    `VALUES ${new Array<string>(rowCount).fill(row).join(',')} ` +
    'ON DUPLICATE KEY UPDATE `next_offset`=VALUES(`next_offset`),`source_lsn`=VALUES(`source_lsn`),`updated_at`=VALUES(`updated_at`)'
  );
}

/**
 * The fence: the stored next offset of one partition, row-locked (FOR UPDATE) for the rest
 * of the apply transaction. Parameters: group_id, topic, kafka_partition.
 */
export function fenceSql(table = DEFAULT_OFFSETS_TABLE): string {
  return `SELECT CAST(\`next_offset\` AS CHAR) AS n FROM ${quoteIdent(table)} WHERE \`group_id\` = ? AND \`topic\` = ? AND \`kafka_partition\` = ? FOR UPDATE`;
}

export function loadOffsetsSql(table = DEFAULT_OFFSETS_TABLE): string {
  return (
    'SELECT `topic`, `kafka_partition`, CAST(`next_offset` AS CHAR) AS `next_offset`, CAST(`source_lsn` AS CHAR) AS `source_lsn` ' +
    `FROM ${quoteIdent(table)} WHERE \`group_id\` = ? ORDER BY \`topic\`, \`kafka_partition\``
  );
}

/** Each column's type as MySQL/MariaDB spell it (`bigint(20)`, `varchar(20)`, `decimal(10,2)`) and its nullability. */
export const COLUMN_TYPES_SQL =
  'SELECT COLUMN_NAME AS `name`, COLUMN_TYPE AS `type`, IS_NULLABLE AS `nullable` FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?';

/** RENAME COLUMN keeps the column's data, type and index membership (MariaDB 10.5+, MySQL 8.0+). */
export function renameColumnSql(table: string, from: string, to: string): string {
  return `ALTER TABLE ${quoteIdent(table)} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`;
}

/** Changes columns' types in one ALTER, keeping each column's NULL / NOT NULL. */
export function modifyColumnsSql(table: string, changes: readonly { name: string; sqlType: string; nullable: boolean }[]): string {
  const parts = changes.map((c) => `MODIFY COLUMN ${quoteIdent(c.name)} ${c.sqlType} ${c.nullable ? 'NULL' : 'NOT NULL'}`);
  return `ALTER TABLE ${quoteIdent(table)} ${parts.join(', ')}`;
}

export const EXISTING_COLUMNS_SQL =
  'SELECT COLUMN_NAME AS `name` FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION';

export const EXTRA_UNIQUE_INDEXES_SQL =
  "SELECT DISTINCT INDEX_NAME AS `name` FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME";

/**
 * Session settings applied to every pooled connection: strict mode so the server refuses
 * rather than truncates, no zero dates, UTC, and READ COMMITTED (fewer gap-lock deadlocks
 * between sinks upserting into one table). No NO_BACKSLASH_ESCAPES / ANSI_QUOTES: the
 * driver's client-side escaping and our backticks assume the default.
 */
export const SESSION_SQL = [
  "SET SESSION sql_mode = 'STRICT_ALL_TABLES,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', SESSION time_zone = '+00:00'",
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
];
/** Primary-key columns of a table in key order (information_schema; [] when it has none). */
export const PRIMARY_KEY_SQL =
  "SELECT COLUMN_NAME AS `name` FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX";
