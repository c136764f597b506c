import type { SchemaColumn } from '@walrelay/core';
import {
  arrayJson,
  bytesValue,
  columnRef,
  dateText,
  decimalText,
  finiteFloat,
  int64Value,
  booleanValue,
  intValue,
  isNullParam,
  stringValue,
  timeText,
  timestampText,
} from '@walrelay/sink';
import { decimalFits } from './sql.js';

/** One decoded value → the parameter mysql2 binds (escapes client-side) for its MySQL column. */
export function mysqlParam(col: SchemaColumn, value: unknown, table: string): unknown {
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
