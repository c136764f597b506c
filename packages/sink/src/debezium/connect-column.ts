import { bytesToBigInt, DecodeError, formatUnscaled, ValueError, type ColumnSpec, type ValueKind } from '@walrelay/core';

/**
 * One field of a Debezium PostgreSQL value schema, read as a walrelay column: the Kafka Connect
 * semantic type (`connect.name`, `connect.type`, `connect.parameters`) decides the value kind and
 * how the decoded Avro value becomes walrelay's representation (see `RowValues` in target.ts),
 * so every dialect stores Debezium's records exactly as it stores walrelay's own.
 *
 * `__debezium.source.column.*` parameters (`column.propagate.source.type`) refine the column
 * when present: PostgreSQL type name, varchar/char length, numeric precision and scale.
 */
export interface ConnectColumn {
  readonly spec: Omit<ColumnSpec, 'key' | 'nullable'>;
  /** Decoded Avro value (never null) → walrelay's value of `spec.kind`. */
  readonly convert: (value: unknown, where: string) => unknown;
}

/**
 * How Debezium writes a timestamp's ±infinity: pgjdbc's markers (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY)
 * as microseconds in a MicroTimestamp, and scaled to the unit of the other timestamp types
 * (seen in records of Debezium 3.6.1: -9223372036832400000 as MicroTimestamp, -9223372036832400 as Timestamp).
 */
const DBZ_POS_INFINITY_MICROS = 9_223_372_036_825_200_000n;
const DBZ_NEG_INFINITY_MICROS = -9_223_372_036_832_400_000n;
/** walrelay's ±infinity (int64 max/min microseconds; the sinks' value-text knows them). */
const POS_INFINITY_MICROS = 9_223_372_036_854_775_807n;
const NEG_INFINITY_MICROS = -9_223_372_036_854_775_808n;

type Schema = string | { readonly type?: unknown; readonly [k: string]: unknown };

function attr(schema: Schema, name: string): unknown {
  return typeof schema === 'object' ? schema[name] : undefined;
}

function params(schema: Schema): Record<string, string> {
  const p = attr(schema, 'connect.parameters');
  return typeof p === 'object' && p !== null ? (p as Record<string, string>) : {};
}

function baseType(schema: Schema): string {
  if (typeof schema === 'string') return schema;
  return typeof schema.type === 'string' ? schema.type : typeof schema.type === 'object' ? 'complex' : 'unknown';
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new ValueError(`expected an integer, got ${typeof v}`);
}

/** A timestamp in `unit` (nanos per unit / 1000 = micros per unit): Debezium's infinity markers first, anything else scales exactly. */
function timestampMicros(v: unknown, unit: 'milli' | 'micro' | 'nano'): bigint {
  const n = toBigInt(v);
  const marker = (m: bigint): bigint => (unit === 'milli' ? m / 1000n : unit === 'nano' ? m * 1000n : m);
  if (n === marker(DBZ_POS_INFINITY_MICROS)) return POS_INFINITY_MICROS;
  if (n === marker(DBZ_NEG_INFINITY_MICROS)) return NEG_INFINITY_MICROS;
  return unit === 'milli' ? n * 1000n : unit === 'nano' ? n / 1000n : n;
}

/** `2024-01-02T01:04:05.123456Z` (ZonedTimestamp, always UTC in Debezium's PostgreSQL connector) → micros since epoch. */
export function zonedTimestampMicros(text: string, where: string): bigint {
  if (text === 'infinity') return POS_INFINITY_MICROS;
  if (text === '-infinity') return NEG_INFINITY_MICROS;
  const m = /^([+-]?\d{4,6})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m) throw new ValueError(`${where}: not an io.debezium.time.ZonedTimestamp: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac = '', zone] = m as unknown as string[];
  const days = daysFromCivil(Number(y), Number(mo), Number(d));
  let micros = BigInt(days) * 86_400_000_000n + BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s)) * 1_000_000n;
  const f = frac.padEnd(9, '0');
  if (/[^0]/.test(f.slice(6))) throw new ValueError(`${where}: ${text} has sub-microsecond digits, which PostgreSQL cannot have`);
  micros += BigInt(f.slice(0, 6));
  if (zone !== 'Z') {
    const sign = zone?.startsWith('-') ? -1n : 1n;
    const z = (zone ?? '').replace(/[+:-]/g, '');
    micros -= sign * (BigInt(Number(z.slice(0, 2)) * 3600 + Number(z.slice(2, 4)) * 60) * 1_000_000n);
  }
  return micros;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (astronomical years: 0 = 1 BC). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const SOURCE_TYPE = '__debezium.source.column.type';

/** PostgreSQL type name from the propagated source type (`INT8`, `_TEXT`, `"S"."MOOD"`), lower case. */
function sourceType(p: Record<string, string>): string | undefined {
  const t = p[SOURCE_TYPE];
  if (t === undefined) return undefined;
  return t.replace(/"/g, '').toLowerCase();
}

function sourceLength(p: Record<string, string>): number | undefined {
  const n = Number(p['__debezium.source.column.length']);
  return Number.isInteger(n) && n > 0 && n < 2_147_483_647 ? n : undefined;
}

function sourceScale(p: Record<string, string>): number | undefined {
  const n = Number(p['__debezium.source.column.scale']);
  return Number.isInteger(n) ? n : undefined;
}

const same = (v: unknown): unknown => v;
const asString = (v: unknown, where: string): string => {
  if (typeof v !== 'string') throw new ValueError(`${where}: expected a string, got ${typeof v}`);
  return v;
};

/**
 * The column a field's (non-null branch of its) schema describes. Throws a DecodeError naming the
 * field for a Connect type walrelay cannot store exactly (geometry structs, maps, nested records).
 */
export function connectColumn(field: string, schema: Schema): ConnectColumn {
  const p = params(schema);
  const name = attr(schema, 'connect.name');
  const src = sourceType(p);
  const base = baseType(schema);
  const col = (kind: ValueKind, pgType: string, convert: ConnectColumn['convert'] = same, extra: Partial<ColumnSpec> = {}): ConnectColumn => ({
    spec: { name: p['__debezium.source.column.name'] ?? field, kind, pgType: src && !src.startsWith('_') ? src : pgType, typmod: -1, ...extra },
    convert,
  });
  switch (name) {
    case 'org.apache.kafka.connect.data.Decimal': {
      const scale = Number(p.scale ?? attr(schema, 'scale') ?? 0);
      const precision = Number(p['connect.decimal.precision'] ?? attr(schema, 'precision') ?? 0);
      // The codec already turned the bytes into an exact decimal string (DecimalType).
      if (precision > 0 && precision >= scale && src !== 'money') return col('decimal', 'numeric', same, { precision, scale });
      return col('numeric', src ?? 'numeric', (v) => (typeof v === 'string' ? v : formatUnscaled(bytesToBigInt(v as Buffer), scale)));
    }
    case 'io.debezium.data.VariableScaleDecimal':
      return col('numeric', 'numeric', (v, where) => {
        const r = v as { scale?: unknown; value?: unknown };
        if (typeof r?.scale !== 'number' || !Buffer.isBuffer(r.value)) throw new ValueError(`${where}: not a VariableScaleDecimal`);
        return formatUnscaled(bytesToBigInt(r.value), r.scale);
      });
    case 'io.debezium.time.Date':
    case 'org.apache.kafka.connect.data.Date':
      return col('date', 'date', (v) => Number(v));
    case 'io.debezium.time.Time':
    case 'org.apache.kafka.connect.data.Time':
      return col('time', 'time', (v) => toBigInt(v) * 1000n);
    case 'io.debezium.time.MicroTime':
      return col('time', 'time', (v) => toBigInt(v));
    case 'io.debezium.time.NanoTime':
      return col('time', 'time', (v) => toBigInt(v) / 1000n);
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return col('timestamp', 'timestamp', (v) => timestampMicros(v, 'milli'));
    case 'io.debezium.time.MicroTimestamp':
      return col('timestamp', 'timestamp', (v) => timestampMicros(v, 'micro'));
    case 'io.debezium.time.NanoTimestamp':
      return col('timestamp', 'timestamp', (v) => timestampMicros(v, 'nano'));
    case 'io.debezium.time.ZonedTimestamp':
      return col('timestamptz', 'timestamptz', (v, where) => zonedTimestampMicros(asString(v, where), where));
    case 'io.debezium.time.ZonedTime':
      return col('timetz', 'timetz', asString);
    case 'io.debezium.time.Interval':
      return col('interval', 'interval', asString);
    case 'io.debezium.time.MicroDuration':
      // Debezium's approximation (a month = 30.4375 days): kept as the microseconds it carries.
      return col('int64', 'int8', (v) => toBigInt(v));
    case 'io.debezium.data.Json':
      return col('json', src === 'json' ? 'json' : 'jsonb', asString);
    case 'io.debezium.data.Uuid':
      return col('uuid', 'uuid', asString);
    case 'io.debezium.data.Enum':
      return col('enum', src ?? 'text', asString, p.allowed !== undefined ? { enumLabels: p.allowed.split(',') } : {});
    case 'io.debezium.data.EnumSet':
      return col('text', src ?? 'text', asString);
    case 'io.debezium.data.Xml':
      return col('other', 'xml', asString);
    case 'io.debezium.data.Ltree':
      return col('other', 'ltree', asString);
    case 'io.debezium.data.Bits':
      // Debezium's bytes of a java.util.BitSet: carried as those bytes (a varbit's length is not in them).
      return col('bytes', 'bytea');
    case undefined:
      break;
    default:
      throw new DecodeError(`field ${field}: Debezium type ${String(name)} has no exact walrelay column (supported: the io.debezium.time, io.debezium.data and Connect logical types of the PostgreSQL connector)`);
  }
  switch (base) {
    case 'boolean':
      return col('boolean', src === 'bit' ? 'bit' : 'bool');
    case 'int': {
      const ct = attr(schema, 'connect.type');
      return ct === 'int16' || ct === 'int8' ? col('int16', 'int2', (v) => Number(v)) : col('int32', 'int4', (v) => Number(v));
    }
    case 'long':
      return col('int64', 'int8', (v) => toBigInt(v));
    case 'float':
      return col('float32', 'float4');
    case 'double':
      return col('float64', 'float8');
    case 'bytes':
      return col('bytes', 'bytea');
    case 'string': {
      const length = src === 'varchar' || src === 'bpchar' ? sourceLength(p) : undefined;
      if (src === 'numeric') {
        // decimal.handling.mode=string: precision and scale from the source column when it has them.
        const precision = sourceLength(p);
        const scale = sourceScale(p);
        if (precision !== undefined && precision <= 1000 && scale !== undefined && scale >= 0 && scale <= precision) {
          return col('decimal', 'numeric', asString, { precision, scale });
        }
        return col('numeric', 'numeric', asString);
      }
      if (src === undefined || src === 'text' || src === 'varchar' || src === 'bpchar' || src === 'name' || src === 'citext') {
        return col('text', src ?? 'text', asString, length !== undefined ? { length } : {});
      }
      // inet, money (string mode), hstore, ranges… PostgreSQL's text, as walrelay's own source sends them.
      return col('other', src, asString);
    }
    case 'array': {
      const items = attr(schema, 'items');
      const itemSchema = (Array.isArray(items) ? items.find((t) => t !== 'null') : items) as Schema | undefined;
      if (itemSchema === undefined) throw new DecodeError(`field ${field}: array without an item type`);
      const element = connectColumn(`${field}[]`, itemSchema);
      if (element.spec.kind === 'array') throw new DecodeError(`field ${field}: nested arrays have no walrelay column`);
      return {
        spec: {
          name: p['__debezium.source.column.name'] ?? field,
          kind: 'array',
          pgType: src ?? `_${element.spec.pgType}`,
          typmod: -1,
          element: element.spec.kind,
          elementPgType: element.spec.pgType,
        },
        convert: (v, where) => {
          if (!Array.isArray(v)) throw new ValueError(`${where}: expected an array`);
          return v.map((x) => (x === null ? null : element.convert(x, where)));
        },
      };
    }
    default:
      throw new DecodeError(`field ${field}: Avro type ${base} of a Debezium record has no exact walrelay column`);
  }
}
