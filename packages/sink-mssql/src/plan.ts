import type { SchemaColumn } from '@walrelay/core';
import { chunkSizes, lsnToSigned, type ApplyBatch, type StoredOffset } from '@walrelay/sink';
import { mssqlParam, paramKind, type Param } from './values.js';
import {
  DEFAULT_OFFSETS_TABLE,
  DEFAULT_SCHEMA,
  KEYS_TABLE,
  MSSQL_MAX_VALUES_ROWS,
  OFFSETS_PER_REQUEST,
  PARAMS_PER_REQUEST,
  STAGE_TABLE,
  createStageSql,
  deleteSql,
  insertStageSql,
  saveOffsetsSql,
  truncateSql,
  upsertSql,
} from './sql.js';

/**
 * One request of an apply transaction: T-SQL and at most 2,000 parameters. A request
 * without parameters must run as a plain batch (it may create the session's #temp table).
 */
export interface PlannedRequest {
  readonly sql: string;
  readonly params: readonly Param[];
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
