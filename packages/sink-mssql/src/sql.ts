import { IdentifierError, keyColumns, SchemaError, type SchemaColumn, type TableShape } from '@walrelay/core';

/**
 * Pure T-SQL builders for SQL Server 2017+. Identifiers are always [bracketed] with `]`
 * doubled; values are always @parameters. Upserts go through a session temp table
 * (#walrelay_stage) filled by multi-row INSERTs of at most 2,000 parameters, then
 * `UPDATE … FROM … JOIN` + `INSERT … SELECT … WHERE NOT EXISTS` (no MERGE WITH HOLDLOCK,
 * which is deadlock-prone; the runtime has already coalesced each key to one row).
 */

export const MSSQL_IDENTIFIER_MAX = 128;
/** SQL Server accepts at most 2,100 parameters per request; stay clearly below. */
export const MSSQL_MAX_PARAMS = 2100;
export const PARAMS_PER_REQUEST = 2000;
/** A table value constructor (VALUES list) takes at most 1,000 rows. */
export const MSSQL_MAX_VALUES_ROWS = 1000;
/** Clustered index key limit. */
export const MSSQL_KEY_BYTES = 900;
export const MSSQL_DECIMAL_MAX_PRECISION = 38;
/** Binary collation: case- and accent-sensitive comparisons, like PostgreSQL. */
export const BIN_COLLATION = 'Latin1_General_100_BIN2';
export const DEFAULT_SCHEMA = 'dbo';
export const DEFAULT_OFFSETS_TABLE = 'walrelay_offsets';
export const STAGE_TABLE = '#walrelay_stage';
export const KEYS_TABLE = '#walrelay_keys';

export function checkIdent(name: string): void {
  if (name.length === 0) throw new IdentifierError(name, 'SQL Server identifier must not be empty');
  if (name.length > MSSQL_IDENTIFIER_MAX) {
    throw new IdentifierError(name, `SQL Server identifier "${name}" is ${name.length} characters long; SQL Server allows at most ${MSSQL_IDENTIFIER_MAX}`);
  }
  if (name.includes('\u0000')) throw new IdentifierError(name, `SQL Server identifier ${JSON.stringify(name)} contains U+0000`);
}

/** `name` → [name] with `]` doubled. */
export function quoteIdent(name: string): string {
  checkIdent(name);
  return `[${name.replaceAll(']', ']]')}]`;
}

/** [schema].[table] */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export function decimalFits(col: Pick<SchemaColumn, 'kind' | 'precision' | 'scale'>): boolean {
  if (col.kind !== 'decimal' || col.precision === undefined) return false;
  const scale = col.scale ?? 0;
  const precision = Math.max(col.precision, scale);
  return precision >= 1 && precision <= MSSQL_DECIMAL_MAX_PRECISION && scale >= 0;
}

function fsp(col: SchemaColumn): number {
  const p = col.precision;
  return p === undefined || p < 0 || p > 6 ? 6 : p;
}

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
      return 5;
    case 'uuid':
      return 16;
    case 'decimal':
      return decimalFits(col) ? 17 : null;
    default:
      return null;
  }
}

/** Bytes per character of the key type of a variable column: NVARCHAR 2, VARCHAR (numeric text) and VARBINARY 1. */
function unitBytes(col: SchemaColumn): number {
  return col.kind === 'bytes' || col.kind === 'numeric' || col.kind === 'decimal' ? 1 : 2;
}

function wantedKeyBytes(col: SchemaColumn): number {
  // NVARCHAR counts UTF-16 code units: a PostgreSQL varchar(n) may need 2n of them.
  if (col.kind === 'text' && col.length !== undefined && col.length > 0) return col.length * 2 * 2;
  return Number.POSITIVE_INFINITY;
}

/** Per variable key column, its length (characters or bytes) so the whole key fits 900 bytes. */
export function keyLengths(keys: readonly SchemaColumn[]): Map<string, number> {
  let budget = MSSQL_KEY_BYTES;
  const variable: SchemaColumn[] = [];
  for (const k of keys) {
    const fixed = fixedKeyBytes(k);
    if (fixed === null) variable.push(k);
    else budget -= fixed;
  }
  variable.sort((a, b) => wantedKeyBytes(a) - wantedKeyBytes(b));
  const out = new Map<string, number>();
  variable.forEach((col, i) => {
    const share = Math.floor(budget / (variable.length - i));
    const give = Math.max(unitBytes(col), Math.min(wantedKeyBytes(col), share));
    budget -= give;
    out.set(col.name, Math.max(1, Math.floor(give / unitBytes(col))));
  });
  return out;
}

const nvarchar = (n: number | 'MAX') => `NVARCHAR(${n}) COLLATE ${BIN_COLLATION}`;
const varchar = (n: number | 'MAX') => `VARCHAR(${n}) COLLATE ${BIN_COLLATION}`;

/**
 * The SQL Server type of a column (without NULL / NOT NULL). Key columns get types that can
 * be in a clustered primary key: text → NVARCHAR(`keyLength`), bytes → VARBINARY(`keyLength`).
 */
export function columnType(col: SchemaColumn, isKey: boolean, keyLength?: number): string {
  switch (col.kind) {
    case 'boolean':
      return 'BIT';
    case 'int16':
      return 'SMALLINT';
    case 'int32':
      return 'INT';
    case 'int64':
      return 'BIGINT';
    case 'float32':
      return 'REAL';
    case 'float64':
      return 'FLOAT(53)';
    case 'uuid':
      return 'UNIQUEIDENTIFIER';
    case 'date':
      return 'DATE';
    case 'time':
      return `TIME(${fsp(col)})`;
    case 'timestamp':
    case 'timestamptz':
      return `DATETIME2(${fsp(col)})`;
    case 'bytes':
      return isKey ? `VARBINARY(${keyLength ?? MSSQL_KEY_BYTES})` : 'VARBINARY(MAX)';
    case 'decimal':
      if (decimalFits(col)) return `DECIMAL(${Math.max(col.precision ?? 0, col.scale ?? 0)},${col.scale ?? 0})`;
      return isKey ? varchar(keyLength ?? MSSQL_KEY_BYTES) : varchar('MAX');
    case 'numeric':
      return isKey ? varchar(keyLength ?? MSSQL_KEY_BYTES) : varchar('MAX');
    case 'text':
      if (isKey) return nvarchar(keyLength ?? MSSQL_KEY_BYTES / 2);
      if (col.length !== undefined && col.length > 0 && col.length * 2 <= 4000) return nvarchar(col.length * 2);
      return nvarchar('MAX');
    case 'timetz':
      return nvarchar(64);
    case 'interval':
    case 'enum':
      return nvarchar(255);
    case 'json':
    case 'array':
    case 'other':
      return isKey ? nvarchar(keyLength ?? MSSQL_KEY_BYTES / 2) : nvarchar('MAX');
    default:
      throw new SchemaError(`column ${(col as SchemaColumn).name}: unknown value kind ${(col as SchemaColumn).kind}`);
  }
}

function keyOf(shape: TableShape): SchemaColumn[] {
  const keys = keyColumns(shape);
  if (keys.length === 0) throw new SchemaError(`table ${shape.schema}.${shape.table} has no key columns; walrelay needs a primary key or replica identity index`);
  return keys;
}

/**
 * CREATE TABLE guarded by `OBJECT_ID(@object, N'U') IS NULL`; bind @object to
 * `qualified(schema, table)` (a value, so it is a parameter).
 */
export function createTableSql(schema: string, table: string, shape: TableShape): string {
  const keys = keyOf(shape);
  const lengths = keyLengths(keys);
  const lines = shape.columns.map((c) => {
    const isKey = c.key !== null;
    return `${quoteIdent(c.name)} ${columnType(c, isKey, lengths.get(c.name))} ${isKey || !c.nullable ? 'NOT NULL' : 'NULL'}`;
  });
  lines.push(`PRIMARY KEY CLUSTERED (${keys.map((k) => quoteIdent(k.name)).join(', ')})`);
  return `IF OBJECT_ID(@object, N'U') IS NULL\nCREATE TABLE ${qualified(schema, table)} (\n  ${lines.join(',\n  ')}\n)`;
}

export function addColumnSql(schema: string, table: string, columns: readonly SchemaColumn[]): string {
  return `ALTER TABLE ${qualified(schema, table)} ADD ${columns.map((c) => `${quoteIdent(c.name)} ${columnType(c, false)} NULL`).join(', ')}`;
}

/** Empty staging table with exactly the target's column types, collations and nullability. */
export function createStageSql(schema: string, table: string, columns: readonly SchemaColumn[], stage = STAGE_TABLE): string {
  return (
    `IF OBJECT_ID(N'tempdb..${stage}') IS NOT NULL DROP TABLE ${stage};\n` +
    `SELECT TOP 0 ${columns.map((c) => quoteIdent(c.name)).join(', ')} INTO ${stage} FROM ${qualified(schema, table)}`
  );
}

export function dropStageSql(stage = STAGE_TABLE): string {
  return `DROP TABLE ${stage}`;
}

/** `INSERT INTO #stage (…) VALUES (@p0,@p1),(…)`: parameters named @p0…@p{rows*cols-1}. */
export function insertStageSql(columns: readonly SchemaColumn[], rowCount: number, stage = STAGE_TABLE): string {
  const rows: string[] = [];
  let p = 0;
  for (let r = 0; r < rowCount; r++) {
    rows.push(`(${columns.map(() => `@p${p++}`).join(',')})`);
  }
  return `INSERT INTO ${stage} (${columns.map((c) => quoteIdent(c.name)).join(', ')}) VALUES ${rows.join(',')}`;
}

function keyJoin(keys: readonly SchemaColumn[], left: string, right: string): string {
  return keys.map((k) => `${left}.${quoteIdent(k.name)} = ${right}.${quoteIdent(k.name)}`).join(' AND ');
}

/**
 * From the filled staging table: update existing rows (only the staged columns: other
 * columns keep their values, as unchanged TOAST columns must), insert the missing ones,
 * drop the staging table.
 */
export function upsertSql(schema: string, table: string, columns: readonly SchemaColumn[], stage = STAGE_TABLE): string {
  const keys = columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  if (keys.length === 0) throw new SchemaError(`upsert into ${table} has no key columns`);
  const target = qualified(schema, table);
  const nonKey = columns.filter((c) => c.key === null);
  const names = columns.map((c) => quoteIdent(c.name));
  const parts: string[] = [];
  if (nonKey.length > 0) {
    parts.push(
      `UPDATE t SET ${nonKey.map((c) => `${quoteIdent(c.name)} = s.${quoteIdent(c.name)}`).join(', ')} ` +
        `FROM ${target} AS t INNER JOIN ${stage} AS s ON ${keyJoin(keys, 't', 's')};`,
    );
  }
  parts.push(
    `INSERT INTO ${target} (${names.join(', ')}) SELECT ${names.map((n) => `s.${n}`).join(', ')} FROM ${stage} AS s ` +
      `WHERE NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE ${keyJoin(keys, 't', 's')});`,
  );
  parts.push(`${dropStageSql(stage)};`);
  return parts.join('\n');
}

/** Deletes the rows whose keys are in the keys staging table, then drops it. */
export function deleteSql(schema: string, table: string, keys: readonly SchemaColumn[], stage = KEYS_TABLE): string {
  return `DELETE t FROM ${qualified(schema, table)} AS t INNER JOIN ${stage} AS s ON ${keyJoin(keys, 't', 's')};\n${dropStageSql(stage)};`;
}

/** TRUNCATE TABLE is transactional in SQL Server (rolled back with the batch). */
export function truncateSql(schema: string, table: string): string {
  return `TRUNCATE TABLE ${qualified(schema, table)}`;
}

/** Guarded by `OBJECT_ID(@object, N'U') IS NULL` like createTableSql. Key: 510 + 249 + 4 bytes ≤ 900. */
export const DEFAULT_OWNERS_TABLE = 'walrelay_table_owners';

/**
 * Which topic writes each target table. [target_table] keeps the database's default
 * collation: claims compare names the way the database compares table names.
 */
export function ownersTableSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OWNERS_TABLE): string {
  return [
    "IF OBJECT_ID(@object, N'U') IS NULL",
    `CREATE TABLE ${qualified(schema, table)} (`,
    '  [target_table] NVARCHAR(128) NOT NULL,',
    `  [topic] VARCHAR(249) COLLATE ${BIN_COLLATION} NOT NULL,`,
    '  [source_table] NVARCHAR(300) NOT NULL,',
    '  [claimed_at] DATETIME2(6) NOT NULL,',
    '  PRIMARY KEY CLUSTERED ([target_table])',
    ')',
  ].join('\n');
}

/**
 * Inserts the claim unless the name is held (UPDLOCK + HOLDLOCK: two claimants of one
 * name serialise on its key range), then returns the holder. Parameters: @table, @topic, @source.
 */
export function claimTableSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OWNERS_TABLE): string {
  const t = qualified(schema, table);
  return [
    'SET XACT_ABORT ON;',
    'BEGIN TRANSACTION;',
    `INSERT INTO ${t} ([target_table], [topic], [source_table], [claimed_at])`,
    `SELECT @table, @topic, @source, SYSUTCDATETIME() WHERE NOT EXISTS (SELECT 1 FROM ${t} WITH (UPDLOCK, HOLDLOCK) WHERE [target_table] = @table);`,
    'COMMIT TRANSACTION;',
    `SELECT [target_table], [topic], [source_table] FROM ${t} WHERE [target_table] = @table;`,
  ].join('\n');
}

/** Parameter: @table. */
export function tableOwnerSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OWNERS_TABLE): string {
  return `SELECT [target_table], [topic], [source_table] FROM ${qualified(schema, table)} WHERE [target_table] = @table`;
}

export function offsetsTableSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OFFSETS_TABLE): string {
  return [
    "IF OBJECT_ID(@object, N'U') IS NULL",
    `CREATE TABLE ${qualified(schema, table)} (`,
    `  [group_id] NVARCHAR(255) COLLATE ${BIN_COLLATION} NOT NULL,`,
    `  [topic] VARCHAR(249) COLLATE ${BIN_COLLATION} NOT NULL,`,
    '  [kafka_partition] INT NOT NULL,',
    '  [next_offset] BIGINT NOT NULL,',
    '  [source_lsn] BIGINT NULL,',
    '  [updated_at] DATETIME2(6) NOT NULL,',
    '  PRIMARY KEY CLUSTERED ([group_id], [topic], [kafka_partition])',
    ')',
  ].join('\n');
}

/** Offsets rows per request: 5 parameters each (@gN, @tN, @pN, @nN, @lN). */
export const OFFSETS_PER_REQUEST = Math.floor(PARAMS_PER_REQUEST / 5);

/** Update-then-insert of `rowCount` offsets rows (@g0,@t0,@p0,@n0,@l0, …) in one request. */
export function saveOffsetsSql(rowCount: number, schema = DEFAULT_SCHEMA, table = DEFAULT_OFFSETS_TABLE): string {
  const target = qualified(schema, table);
  const values = Array.from({ length: rowCount }, (_, i) => `(@g${i},@t${i},@p${i},@n${i},@l${i})`).join(',');
  const v = `(VALUES ${values}) AS v ([group_id], [topic], [kafka_partition], [next_offset], [source_lsn])`;
  const on = 'o.[group_id] = v.[group_id] AND o.[topic] = v.[topic] AND o.[kafka_partition] = v.[kafka_partition]';
  return (
    `UPDATE o SET [next_offset] = v.[next_offset], [source_lsn] = v.[source_lsn], [updated_at] = SYSUTCDATETIME() FROM ${target} AS o INNER JOIN ${v} ON ${on};\n` +
    `INSERT INTO ${target} ([group_id], [topic], [kafka_partition], [next_offset], [source_lsn], [updated_at]) ` +
    `SELECT v.[group_id], v.[topic], v.[kafka_partition], v.[next_offset], v.[source_lsn], SYSUTCDATETIME() FROM ${v} ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${target} AS o WHERE ${on});`
  );
}

/**
 * The fence: the stored next offset of one partition, locked (UPDLOCK, HOLDLOCK) for the rest
 * of the apply transaction. Parameters: @group, @topic, @partition.
 */
export function fenceSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OFFSETS_TABLE): string {
  return `SELECT CAST([next_offset] AS VARCHAR(20)) AS n FROM ${qualified(schema, table)} WITH (UPDLOCK, HOLDLOCK) WHERE [group_id] = @group AND [topic] = @topic AND [kafka_partition] = @partition`;
}

export function loadOffsetsSql(schema = DEFAULT_SCHEMA, table = DEFAULT_OFFSETS_TABLE): string {
  return (
    'SELECT [topic], [kafka_partition], CAST([next_offset] AS VARCHAR(20)) AS [next_offset], CAST([source_lsn] AS VARCHAR(20)) AS [source_lsn] ' +
    `FROM ${qualified(schema, table)} WHERE [group_id] = @group ORDER BY [topic], [kafka_partition]`
  );
}

/** Each column's type facts (sys.columns + sys.types); @object is the qualified name. */
export const COLUMN_TYPES_SQL =
  'SELECT c.[name] AS [name], t.[name] AS [type], c.[max_length] AS [max_length], c.[precision] AS [precision], c.[scale] AS [scale], c.[is_nullable] AS [is_nullable] ' +
  "FROM sys.columns AS c JOIN sys.types AS t ON t.[user_type_id] = c.[user_type_id] WHERE c.[object_id] = OBJECT_ID(@object, N'U')";

/** The primary key constraint's name and columns in key order; @object is the qualified name. */
export const PRIMARY_KEY_CONSTRAINT_SQL =
  "SELECT kc.[name] AS [name] FROM sys.key_constraints AS kc WHERE kc.[parent_object_id] = OBJECT_ID(@object, N'U') AND kc.[type] = 'PK'";

export interface MssqlColumnType {
  readonly type: string;
  readonly max_length: number;
  readonly precision: number;
  readonly scale: number;
}

/** A column's type spelled as columnType spells it (NVARCHAR(20), DECIMAL(10,2), DATETIME2(6), FLOAT(53)). */
export function mssqlTypeText(c: MssqlColumnType): string {
  const t = c.type.toLowerCase();
  switch (t) {
    case 'nvarchar':
    case 'nchar':
      return `${t.toUpperCase()}(${c.max_length === -1 ? 'MAX' : c.max_length / 2})`;
    case 'varchar':
    case 'char':
    case 'varbinary':
    case 'binary':
      return `${t.toUpperCase()}(${c.max_length === -1 ? 'MAX' : c.max_length})`;
    case 'decimal':
    case 'numeric':
      return `DECIMAL(${c.precision},${c.scale})`;
    case 'datetime2':
    case 'time':
      return `${t.toUpperCase()}(${c.scale})`;
    case 'float':
      return c.precision <= 24 ? 'REAL' : 'FLOAT(53)';
    default:
      return t.toUpperCase();
  }
}

/** Renames a column: sp_rename with the object and the new name bound as parameters (@objname, @newname). */
export const RENAME_COLUMN_SQL = "EXEC sp_rename @objname = @objname, @newname = @newname, @objtype = 'COLUMN'";

/**
 * Widens columns in one transaction. SQL Server cannot alter a column of the primary key while
 * the constraint exists, so when a key column changes the constraint is dropped and re-created
 * (same name, same columns, clustered) around the ALTERs.
 */
export function widenColumnsSql(
  schema: string,
  table: string,
  changes: readonly { name: string; sqlType: string; nullable: boolean }[],
  primaryKey?: { readonly name: string; readonly columns: readonly string[] },
): string {
  const q = qualified(schema, table);
  const alters = changes.map((c) => `ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(c.name)} ${c.sqlType} ${c.nullable ? 'NULL' : 'NOT NULL'};`);
  const lines = ['SET XACT_ABORT ON;', 'BEGIN TRANSACTION;'];
  if (primaryKey) lines.push(`ALTER TABLE ${q} DROP CONSTRAINT ${quoteIdent(primaryKey.name)};`);
  lines.push(...alters);
  if (primaryKey) lines.push(`ALTER TABLE ${q} ADD CONSTRAINT ${quoteIdent(primaryKey.name)} PRIMARY KEY CLUSTERED (${primaryKey.columns.map(quoteIdent).join(', ')});`);
  lines.push('COMMIT TRANSACTION;');
  return lines.join('\n');
}

export const EXISTING_COLUMNS_SQL = "SELECT c.[name] FROM sys.columns AS c WHERE c.[object_id] = OBJECT_ID(@object, N'U') ORDER BY c.[column_id]";
export const EXTRA_UNIQUE_INDEXES_SQL =
  'SELECT i.[name] FROM sys.indexes AS i WHERE i.[object_id] = OBJECT_ID(@object) AND i.[is_unique] = 1 AND i.[is_primary_key] = 0 AND i.[name] IS NOT NULL ORDER BY i.[name]';
/** Primary-key columns of a table in key order ([] when it has none); @object is the qualified name. */
export const PRIMARY_KEY_SQL =
  'SELECT c.[name] FROM sys.indexes AS i JOIN sys.index_columns AS ic ON ic.[object_id] = i.[object_id] AND ic.[index_id] = i.[index_id] ' +
  'JOIN sys.columns AS c ON c.[object_id] = ic.[object_id] AND c.[column_id] = ic.[column_id] ' +
  "WHERE i.[object_id] = OBJECT_ID(@object, N'U') AND i.[is_primary_key] = 1 AND ic.[key_ordinal] > 0 ORDER BY ic.[key_ordinal]";
