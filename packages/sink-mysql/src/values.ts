import type { SchemaColumn } from '@walrelay/core';
import { arrayJson, columnRef, dateText, exactScalar, isNullParam, NOT_SCALAR, stringValue, timeText, timestampText } from '@walrelay/sink';
import { decimalFits } from './sql.js';

/** One decoded value → the parameter mysql2 binds (escapes client-side) for its MySQL column. */
export function mysqlParam(col: SchemaColumn, value: unknown, table: string): unknown {
  const where = columnRef(table, col.name);
  if (isNullParam(col.key, value, where)) return null;
  const scalar = exactScalar(col.kind, value, where, decimalFits(col));
  if (scalar !== NOT_SCALAR) return scalar;
  switch (col.kind) {
    case 'date':
      return dateText(value, where);
    case 'time':
      return timeText(value, where);
    case 'timestamp':
    case 'timestamptz':
      return timestampText(value, where);
    case 'array':
      return arrayJson(value, where, col.element);
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value);
    default:
      return stringValue(value, where);
  }
}

/** Upper bound of the bytes a value takes in the SQL text once escaped. */
export function escapedSize(value: unknown): number {
  if (value === null || value === undefined) return 4;
  if (typeof value === 'string') return Buffer.byteLength(value) * 2 + 2;
  if (Buffer.isBuffer(value)) return value.length * 2 + 3;
  return 24;
}
