import {
  DATE_NEG_INFINITY,
  DATE_POS_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  TIMESTAMP_POS_INFINITY,
  ValueError,
  type ValueKind,
} from '@walrelay/core';

/**
 * Pure conversions from the decoded JS values of a change (see `RowValues` in target.ts)
 * to the text forms every target dialect binds as parameters. Nothing here talks to a
 * database; every refusal is a ValueError that names the column (`where`, usually
 * `table.column`) and the problem, never a silent truncation.
 */

/** Microseconds in one day. */
export const DAY_MICROS = 86_400_000_000n;
/** PostgreSQL's `infinity` / `-infinity` (the wire contract's sentinels, core's wire/sentinels.ts). */
export {
  TIMESTAMP_POS_INFINITY as INFINITY_MICROS,
  TIMESTAMP_NEG_INFINITY as NEG_INFINITY_MICROS,
  DATE_POS_INFINITY as INFINITY_DAYS,
  DATE_NEG_INFINITY as NEG_INFINITY_DAYS,
};
/** Days since 1970-01-01 of 0001-01-01 and 9999-12-31: the only years every target shares. */
export const MIN_DAYS = -719_162;
export const MAX_DAYS = 2_932_896;

export interface TemporalTextOptions {
  /**
   * What ±infinity becomes: 'error' (default) throws a ValueError; 'text' returns
   * 'infinity' / '-infinity' for targets whose column is text (SQLite).
   */
  readonly infinity?: 'error' | 'text';
  /** Date/time separator of a timestamp: ' ' (default, MySQL/SQL Server) or 'T'. */
  readonly separator?: ' ' | 'T';
  /** Appended to a timestamp, e.g. 'Z' for an ISO UTC instant. */
  readonly suffix?: string;
}

/** `where` of a column for error messages. */
export function columnRef(table: string, column: string): string {
  return `${table}.${column}`;
}

/** The last `where` made for each column object (a sink writes the same columns row after row). */
const columnRefs = new WeakMap<object, { readonly table: string; readonly where: string }>();

/**
 * `columnRef(table, column.name)`, made once per column object and table instead of once per
 * value (a string per value bound: a tenth of a sink's garbage; docs/performance.md, Session 13).
 */
export function columnRefOf(table: string, column: { readonly name: string }): string {
  const known = columnRefs.get(column);
  if (known !== undefined && known.table === table) return known.where;
  const where = columnRef(table, column.name);
  columnRefs.set(column, { table, where });
  return where;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return 'Buffer';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function pad(n: number | bigint, width: number): string {
  return String(n).padStart(width, '0');
}

/** '00'…'99': the two-digit fields of dates and times without a string made per field. */
const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : String(i)));

function year(y: number): string {
  return y >= 1000 && y <= 9999 ? String(y) : pad(y, 4);
}

/** Civil date (proleptic Gregorian) of a day count, Howard Hinnant's algorithm: exact for any year. */
function civilFromDays(days: number): { y: number; m: number; d: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return { y, m, d };
}

function infinity(sign: 1 | -1, kind: string, where: string, options: TemporalTextOptions): string {
  if (options.infinity === 'text') return sign > 0 ? 'infinity' : '-infinity';
  throw new ValueError(`cannot store ${sign > 0 ? '' : '-'}infinity in ${where} (${kind})`, { details: { column: where } });
}

function daysText(days: number, where: string, kind: string): string {
  if (days < MIN_DAYS || days > MAX_DAYS) {
    const { y } = civilFromDays(days);
    throw new ValueError(`${kind} in ${where} is outside the years 1..9999 a target can store (year ${y <= 0 ? `${1 - y} BC` : y})`, {
      details: { column: where },
    });
  }
  const { y, m, d } = civilFromDays(days);
  return `${year(y)}-${TWO_DIGITS[m]!}-${TWO_DIGITS[d]!}`;
}

/** Days since 1970-01-01 → 'YYYY-MM-DD'. */
export function dateText(value: unknown, where: string, options: TemporalTextOptions = {}): string {
  const days = typeof value === 'bigint' ? Number(value) : value;
  if (typeof days !== 'number' || !Number.isInteger(days)) {
    throw new ValueError(`${where}: expected a date as integer days since 1970-01-01, got ${describe(value)}`, { details: { column: where } });
  }
  if (days === DATE_POS_INFINITY) return infinity(1, 'date', where, options);
  if (days === DATE_NEG_INFINITY) return infinity(-1, 'date', where, options);
  return daysText(days, where, 'date');
}

function toMicros(value: unknown, where: string, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new ValueError(`${where}: expected ${what} as integer microseconds, got ${describe(value)}`, { details: { column: where } });
}

function clockText(micros: bigint): string {
  const h = micros / 3_600_000_000n;
  const min = (micros / 60_000_000n) % 60n;
  const s = (micros / 1_000_000n) % 60n;
  const f = micros % 1_000_000n;
  return `${pad(h, 2)}:${pad(min, 2)}:${pad(s, 2)}.${pad(f, 6)}`;
}

/** Microseconds in one day, as a number. */
const DAY_MICROS_NUMBER = 86_400_000_000;
/** Below this magnitude a microsecond count, its day count times a day and their difference are exact doubles (years 1827–2112). */
const NUMBER_MICROS = 2n ** 52n;

/** Microseconds within a day (0 ≤ micros < a day, a safe integer) → 'HH:MM:SS.ffffff', in number arithmetic. */
function clockTextOfNumber(micros: number): string {
  const secs = Math.floor(micros / 1_000_000);
  const f = micros - secs * 1_000_000;
  const h = Math.floor(secs / 3600);
  const rest = secs - h * 3600;
  const min = Math.floor(rest / 60);
  // f + 10^6 has seven digits: its last six are f's, zero-padded.
  return `${TWO_DIGITS[h]!}:${TWO_DIGITS[min]!}:${TWO_DIGITS[rest - min * 60]!}.${String(f + 1_000_000).slice(1)}`;
}

/** Microseconds since 1970-01-01 00:00 (UTC for timestamptz) → 'YYYY-MM-DD HH:MM:SS.ffffff'. */
export function timestampText(value: unknown, where: string, options: TemporalTextOptions = {}): string {
  const micros = toMicros(value, where, 'a timestamp');
  if (micros === TIMESTAMP_POS_INFINITY) return infinity(1, 'timestamp', where, options);
  if (micros === TIMESTAMP_NEG_INFINITY) return infinity(-1, 'timestamp', where, options);
  if (micros > -NUMBER_MICROS && micros < NUMBER_MICROS) {
    // The common case, without a bigint division per field (a bigint each): the same text.
    // Exact: the quotient is below 52,126 in magnitude, where a double's spacing (< 8e-12) is
    // finer than a fraction's distance to the next integer (≥ 1 / 86.4e9), so rounding never
    // carries it across an integer, and dayCount · day is exact.
    const n = Number(micros);
    const dayCount = Math.floor(n / DAY_MICROS_NUMBER);
    const within = n - dayCount * DAY_MICROS_NUMBER;
    return `${daysText(dayCount, where, 'timestamp')}${options.separator ?? ' '}${clockTextOfNumber(within)}${options.suffix ?? ''}`;
  }
  let days = micros / DAY_MICROS;
  let rest = micros % DAY_MICROS;
  if (rest < 0n) {
    rest += DAY_MICROS;
    days -= 1n;
  }
  const date = daysText(Number(days), where, 'timestamp');
  return `${date}${options.separator ?? ' '}${clockText(rest)}${options.suffix ?? ''}`;
}

/** Microseconds since midnight → 'HH:MM:SS.ffffff' (PostgreSQL allows 24:00:00 exactly). */
export function timeText(value: unknown, where: string): string {
  const micros = toMicros(value, where, 'a time of day');
  if (micros < 0n || micros > DAY_MICROS) {
    throw new ValueError(`${where}: time of day out of range (${micros} microseconds since midnight)`, { details: { column: where } });
  }
  return clockText(micros);
}

/** A decimal/numeric string with digits only (no NaN, no ±Infinity, no exponent). */
const PLAIN_DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** Checks a value bound for a DECIMAL column; returns it unchanged. */
export function decimalText(value: unknown, where: string): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'string') {
    throw new ValueError(`${where}: expected a decimal as text, got ${describe(value)}`, { details: { column: where } });
  }
  if (!PLAIN_DECIMAL.test(value)) {
    throw new ValueError(`cannot store ${JSON.stringify(value.slice(0, 40))} in ${where}: the target's DECIMAL column takes finite numbers only`, {
      details: { column: where },
    });
  }
  return value;
}

/** Floats: targets other than SQLite have no NaN or ±Infinity. */
export function finiteFloat(value: unknown, where: string): number {
  if (typeof value !== 'number') {
    throw new ValueError(`${where}: expected a number, got ${describe(value)}`, { details: { column: where } });
  }
  if (!Number.isFinite(value)) throw new ValueError(`cannot store ${value} in ${where}: the target's float type has no NaN/Infinity`, { details: { column: where } });
  return value;
}

/** int64 values arrive as bigint (or number when small). */
export function int64Value(value: unknown, where: string): bigint {
  if (typeof value === 'bigint') {
    if (value > 9_223_372_036_854_775_807n || value < -9_223_372_036_854_775_808n) {
      throw new ValueError(`${where}: ${value} is outside the 64-bit integer range`, { details: { column: where } });
    }
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return int64Value(BigInt(value), where);
  throw new ValueError(`${where}: expected a 64-bit integer, got ${describe(value)}`, { details: { column: where } });
}

export function intValue(value: unknown, where: string, bits: 16 | 32): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  const max = bits === 16 ? 32_767 : 2_147_483_647;
  if (typeof n !== 'number' || !Number.isInteger(n) || n > max || n < -max - 1) {
    throw new ValueError(`${where}: expected a ${bits}-bit integer, got ${typeof n === 'number' ? n : describe(value)}`, { details: { column: where } });
  }
  return n;
}

/**
 * The shared start of every dialect's parameter conversion: true when the value is SQL
 * NULL (a ValueError for a key column, which can never be null), false otherwise.
 */
export function isNullParam(key: number | null, value: unknown, where: string): boolean {
  if (value !== null && value !== undefined) return false;
  if (key !== null) throw new ValueError(`${where}: key column is null`, { details: { column: where } });
  return true;
}

/** A boolean value (Avro boolean; 0/1 accepted). */
export function booleanValue(value: unknown, where: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  throw new ValueError(`${where}: expected a boolean, got ${typeof value}`, { details: { column: where } });
}

export function bytesValue(value: unknown, where: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new ValueError(`${where}: expected bytes, got ${describe(value)}`, { details: { column: where } });
}

/** What `exactScalar` returns for a kind it does not convert (the dialect's own switch goes on). */
export const NOT_SCALAR: unique symbol = Symbol('not a scalar kind');

/**
 * The conversions every target that binds typed parameters (MySQL/MariaDB, SQL Server) makes
 * alike: boolean, integers (range-checked), finite floats, decimals (exact text when the target
 * column is a DECIMAL, `decimalColumn`), numerics and bytes. Other kinds: NOT_SCALAR.
 */
export function exactScalar(kind: ValueKind, value: unknown, where: string, decimalColumn: boolean): unknown {
  switch (kind) {
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
      return decimalColumn ? decimalText(value, where) : String(value);
    case 'numeric':
      return typeof value === 'string' ? value : String(value);
    case 'bytes':
      return bytesValue(value, where);
    default:
      return NOT_SCALAR;
  }
}

export function stringValue(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  throw new ValueError(`${where}: expected text, got ${describe(value)}`, { details: { column: where } });
}

/** A JSON value for one array element, by element kind when known. */
function jsonElement(value: unknown, where: string, element: ValueKind | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => jsonElement(v, where, element));
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return bytesValue(value, where).toString('base64');
  switch (element) {
    case 'date':
      return dateText(value, where, { infinity: 'text' });
    case 'timestamp':
      return timestampText(value, where, { infinity: 'text', separator: 'T' });
    case 'timestamptz':
      return timestampText(value, where, { infinity: 'text', separator: 'T', suffix: 'Z' });
    case 'time':
      return timeText(value, where);
    default:
      break;
  }
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  // JSON has no NaN/Infinity: keep them as PostgreSQL prints them.
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new ValueError(`${where}: unsupported array element of type ${describe(value)}`, { details: { column: where } });
}

/**
 * An array (possibly nested, nulls allowed) → JSON text. bigint → number when safe, else a
 * string; Buffer → base64; dates/times/timestamps → ISO text when the element kind says so
 * (±infinity → 'infinity' / '-infinity': JSON text can hold it); -0 stays -0.
 */
export function arrayJson(value: unknown, where: string, element?: ValueKind): string {
  if (typeof value === 'string') return value; // already text (e.g. an array decoded as PostgreSQL text)
  if (!Array.isArray(value)) {
    throw new ValueError(`${where}: expected an array, got ${describe(value)}`, { details: { column: where } });
  }
  return jsonText(jsonElement(value, where, element));
}

/** JSON.stringify for array elements, except that -0 keeps its sign (JSON.stringify(-0) is "0"). */
function jsonText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`;
  if (Object.is(v, -0)) return '-0';
  return JSON.stringify(v);
}

/**
 * Splits `total` rows into statement sizes so that only a few statement shapes ever exist
 * per column set (prepared statements and plans stay cached): as many full chunks of
 * `max` as fit, then the binary decomposition of the rest (e.g. 1000, 1000, 256, 32, 4, 1).
 */
export function chunkSizes(total: number, max: number): number[] {
  if (max < 1) throw new RangeError(`chunk size must be at least 1, got ${max}`);
  const sizes: number[] = [];
  let rest = total;
  while (rest >= max) {
    sizes.push(max);
    rest -= max;
  }
  for (let bit = 1 << 30; bit >= 1; bit = bit >>> 1) {
    if (rest & bit) sizes.push(bit);
  }
  return sizes;
}

/** Signed 64-bit storage of an LSN (unsigned 64-bit): lossless both ways. */
export function lsnToSigned(lsn: bigint | null): bigint | null {
  return lsn === null ? null : BigInt.asIntN(64, lsn);
}
export function lsnFromSigned(stored: bigint | null): bigint | null {
  return stored === null ? null : BigInt.asUintN(64, stored);
}

/** Arrays, json and every kind carried as text: bound alike by every dialect. */
export function textualValue(kind: ValueKind, value: unknown, where: string, element?: ValueKind): string {
  switch (kind) {
    case 'array':
      return arrayJson(value, where, element);
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value);
    default:
      return stringValue(value, where);
  }
}
