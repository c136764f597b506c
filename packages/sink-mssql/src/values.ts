import { ValueError, type SchemaColumn } from '@walrelay/core';
import { columnRefOf, dateText, exactScalar, isNullParam, NOT_SCALAR, stringValue, textualValue, timestampText, timeText } from '@walrelay/sink';
import sql from 'mssql';
import type { ISqlType } from 'mssql';
import { decimalFits } from './sql.js';

/** The driver-independent type of a parameter; index.ts maps it to an mssql type. */
export type ParamKind = 'bit' | 'smallint' | 'int' | 'bigint' | 'real' | 'float' | 'varbinary' | 'uniqueidentifier' | 'varchar' | 'nvarchar';

export interface Param {
  readonly name: string;
  readonly kind: ParamKind;
  readonly value: unknown;
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
  const where = columnRefOf(table, col);
  if (isNullParam(col.key, value, where)) return null;
  const scalar = exactScalar(col.kind, value, where, decimalFits(col));
  if (scalar !== NOT_SCALAR) return scalar;
  switch (col.kind) {
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
    default:
      return textualValue(col.kind, value, where, col.element);
  }
}

/** Maps a planned parameter kind to the mssql type. */
export function sqlType(kind: ParamKind): ISqlType | (() => ISqlType) {
  switch (kind) {
    case 'bit':
      return sql.Bit;
    case 'smallint':
      return sql.SmallInt;
    case 'int':
      return sql.Int;
    case 'bigint':
      return sql.BigInt;
    case 'real':
      return sql.Real;
    case 'float':
      return sql.Float;
    case 'varbinary':
      return sql.VarBinary(sql.MAX);
    case 'uniqueidentifier':
      return sql.UniqueIdentifier;
    case 'varchar':
      return sql.VarChar(sql.MAX);
    case 'nvarchar':
      return sql.NVarChar(sql.MAX);
  }
}
