import type { SchemaColumn } from '@walrelay/core';
import { columnRefOf, dateText, exactScalar, isNullParam, NOT_SCALAR, textualValue, timestampText, timeText } from '@walrelay/sink';
import { decimalFits } from './sql.js';

/** One decoded value → the parameter mysql2 binds (escapes client-side) for its MySQL column. */
export function mysqlParam(col: SchemaColumn, value: unknown, table: string): unknown {
  const where = columnRefOf(table, col);
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
    default:
      return textualValue(col.kind, value, where, col.element);
  }
}

/** Upper bound of the bytes a value takes in the SQL text once escaped. */
export function escapedSize(value: unknown): number {
  if (value === null || value === undefined) return 4;
  if (typeof value === 'string') return Buffer.byteLength(value) * 2 + 2;
  if (Buffer.isBuffer(value)) return value.length * 2 + 3;
  return 24;
}
