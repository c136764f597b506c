import { ValueError, type SchemaColumn } from '@walrelay/core';
import { booleanValue, bytesValue, columnRefOf, dateText, int64Value, intValue, isNullParam, textualValue, timestampText, timeText } from '@walrelay/sink';

/** One decoded value → what better-sqlite3 binds for its SQLite column. */
export function sqliteParam(col: SchemaColumn, value: unknown, table: string): unknown {
  const where = columnRefOf(table, col);
  if (isNullParam(col.key, value, where)) return null;
  switch (col.kind) {
    case 'boolean':
      return booleanValue(value, where) ? 1 : 0;
    case 'int16':
      return intValue(value, where, 16);
    case 'int32':
      return intValue(value, where, 32);
    case 'int64':
      return int64Value(value, where);
    case 'float32':
    case 'float64':
      if (typeof value !== 'number') throw new ValueError(`${where}: expected a number, got ${typeof value}`, { details: { column: where } });
      // SQLite turns a bound NaN into NULL: keep it as the text 'NaN' (±Infinity are REALs).
      return Number.isNaN(value) ? 'NaN' : value;
    case 'decimal':
    case 'numeric':
      return typeof value === 'string' ? value : String(value);
    case 'bytes':
      return bytesValue(value, where);
    case 'date':
      return dateText(value, where, { infinity: 'text' });
    case 'time':
      return timeText(value, where);
    case 'timestamp':
    case 'timestamptz':
      return timestampText(value, where, { infinity: 'text' });
    default:
      return textualValue(col.kind, value, where, col.element);
  }
}
