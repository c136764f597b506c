import { ValueError, type SchemaColumn } from '@walrelay/core';
import {
  arrayJson,
  bytesValue,
  chunkSizes,
  columnRef,
  dateText,
  decimalText,
  finiteFloat,
  int64Value,
  booleanValue,
  intValue,
  isNullParam,
  lsnToSigned,
  stringValue,
  timeText,
  timestampText,
  type ApplyBatch,
  type StoredOffset,
} from '@walrelay/sink';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_SCHEMA,
  KEYS_TABLE,
  MSSQL_MAX_VALUES_ROWS,
  OFFSETS_PER_REQUEST,
  PARAMS_PER_REQUEST,
  STAGE_TABLE,
  createStageSql,
  decimalFits,
  deleteSql,
  insertStageSql,
  saveOffsetsSql,
  truncateSql,
  upsertSql,
} from './sql.js';

/** The driver-independent type of a parameter; index.ts maps it to an mssql type. */
export type ParamKind = 'bit' | 'smallint' | 'int' | 'bigint' | 'real' | 'float' | 'varbinary' | 'uniqueidentifier' | 'varchar' | 'nvarchar';

export interface Param {
  readonly name: string;
  readonly kind: ParamKind;
  readonly value: unknown;
}

/**
 * One request of an apply transaction: T-SQL and at most 2,000 parameters. A request
 * without parameters must run as a plain batch (it may create the session's #temp table).
 */
export interface PlannedRequest {
  readonly sql: string;
  readonly params: readonly Param[];
}

/**
 * Parameter kind of a column's values. Decimals, dates and times travel as text and the
 * server converts them exactly (tedious' date types take a JS Date: milliseconds only).
 */
export function paramKind(col: SchemaColumn): ParamKind {
  switch (col.kind) {
    case 'boolean':
      return 'bit';
    case 'int16':
      return 'smallint';
    case 'int32':
      return 'int';
    case 'int64':
      return 'bigint';
    case 'float32':
      return 'real';
    case 'float64':
      return 'float';
    case 'bytes':
      return 'varbinary';
    case 'uuid':
      return 'uniqueidentifier';
    case 'decimal':
    case 'numeric':
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return 'varchar';
    default:
      return 'nvarchar';
  }
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAX_TIME = 86_399_999_999n;

/** One decoded value → the parameter value for its SQL Server column. */
export function mssqlParam(col: SchemaColumn, value: unknown, table: string): unknown {
  const where = columnRef(table, col.name);
  if (isNullParam(col.key, value, where)) return null;
  switch (col.kind) {
    case 'boolean':
      return booleanValue(value, where);
    case 'int16':
      return intValue(value, where, 16);
    case 'int32':
      return intValue(value, where, 32);
    case 'int64':
      return int64Value(value, where);
    case 'float32':
    case 'float64':
      return finiteFloat(value, where);
    case 'decimal':
      return decimalFits(col) ? decimalText(value, where) : String(value);
    case 'numeric':
      return typeof value === 'string' ? value : String(value);
    case 'bytes':
      return bytesValue(value, where);
    case 'uuid': {
      const s = stringValue(value, where);
      if (!UUID.test(s)) throw new ValueError(`${where}: ${JSON.stringify(s.slice(0, 40))} is not a UUID`, { details: { column: where } });
      return s;
    }
    case 'date':
      return dateText(value, where);
    case 'time': {
      const text = timeText(value, where);
      if (typeof value === 'bigint' && value > MAX_TIME) {
        throw new ValueError(`cannot store 24:00:00 in ${where}: SQL Server TIME ends at 23:59:59.9999999`, { details: { column: where } });
      }
      return text;
    }
    case 'timestamp':
    case 'timestamptz':
      return timestampText(value, where, { separator: 'T' });
    case 'array':
      return arrayJson(value, where, col.element);
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value);
    default:
      return stringValue(value, where);
  }
}

/** Rows per INSERT for `columnCount` columns: ≤ 2,000 parameters and ≤ 1,000 rows. */
export function rowsPerRequest(columnCount: number, maxRows = MSSQL_MAX_VALUES_ROWS): number {
  return Math.max(1, Math.min(maxRows, MSSQL_MAX_VALUES_ROWS, Math.floor(PARAMS_PER_REQUEST / Math.max(1, columnCount))));
}

/** Multi-row INSERTs filling a staging table, chunked to fixed shapes. */
function stageInserts(columns: readonly SchemaColumn[], rows: readonly (readonly unknown[])[], table: string, stage: string, maxRows: number): PlannedRequest[] {
  const kinds = columns.map(paramKind);
  const out: PlannedRequest[] = [];
  let at = 0;
  for (const size of chunkSizes(rows.length, rowsPerRequest(columns.length, maxRows))) {
    const params: Param[] = [];
    for (const row of rows.slice(at, at + size)) {
      columns.forEach((col, i) => params.push({ name: `p${params.length}`, kind: kinds[i]!, value: mssqlParam(col, row[i], table) }));
    }
    at += size;
    out.push({ sql: insertStageSql(columns, size, stage), params });
  }
  return out;
}

export function offsetRequests(offsets: readonly StoredOffset[], schema = DEFAULT_SCHEMA, table = DEFAULT_OFFSETS_TABLE): PlannedRequest[] {
  const out: PlannedRequest[] = [];
  for (let at = 0; at < offsets.length; at += OFFSETS_PER_REQUEST) {
    const chunk = offsets.slice(at, at + OFFSETS_PER_REQUEST);
    const params: Param[] = [];
    chunk.forEach((o, i) => {
      params.push(
        { name: `g${i}`, kind: 'nvarchar', value: o.groupId },
        { name: `t${i}`, kind: 'varchar', value: o.topic },
        { name: `p${i}`, kind: 'int', value: o.partition },
        { name: `n${i}`, kind: 'bigint', value: o.nextOffset },
        { name: `l${i}`, kind: 'bigint', value: lsnToSigned(o.sourceLsn) },
      );
    });
    out.push({ sql: saveOffsetsSql(chunk.length, schema, table), params });
  }
  return out;
}

export interface PlanOptions {
  readonly schema?: string;
  readonly offsetsTable?: string;
  /** Rows per INSERT at most (default 1000, always ≤ 2,000 parameters). */
  readonly maxRowsPerStatement?: number;
}

/**
 * Every request of one apply transaction, in order, values converted and checked first
 * (a ValueError here means nothing was sent). Per upsert step: create #walrelay_stage,
 * fill it, update+insert+drop; per delete step the same with #walrelay_keys; then offsets.
 */
export function planApply(batch: ApplyBatch, options: PlanOptions = {}): PlannedRequest[] {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const maxRows = options.maxRowsPerStatement ?? MSSQL_MAX_VALUES_ROWS;
  const table = batch.table.name;
  const out: PlannedRequest[] = [];
  for (const step of batch.steps) {
    if (step.kind === 'truncate') {
      out.push({ sql: truncateSql(schema, table), params: [] });
    } else if (step.kind === 'upsert') {
      if (step.rows.length === 0) continue;
      out.push({ sql: createStageSql(schema, table, step.columns, STAGE_TABLE), params: [] });
      out.push(...stageInserts(step.columns, step.rows, table, STAGE_TABLE, maxRows));
      out.push({ sql: upsertSql(schema, table, step.columns, STAGE_TABLE), params: [] });
    } else {
      if (step.keys.length === 0) continue;
      out.push({ sql: createStageSql(schema, table, step.columns, KEYS_TABLE), params: [] });
      out.push(...stageInserts(step.columns, step.keys, table, KEYS_TABLE, maxRows));
      out.push({ sql: deleteSql(schema, table, step.columns, KEYS_TABLE), params: [] });
    }
  }
  out.push(...offsetRequests(batch.offsets, schema, options.offsetsTable ?? DEFAULT_OFFSETS_TABLE));
  return out;
}
