/**
 * PostgreSQL text output → the JS value of walrelay's ValueKind (see core's column.ts).
 *
 * Relies on the session settings every source connection sets (SESSION_SETTINGS):
 * DateStyle=ISO, MDY; IntervalStyle=iso_8601; TimeZone=UTC; extra_float_digits=3;
 * bytea_output=hex. Under other settings the date/time and bytea parsers reject the text
 * with a ValueError rather than guess.
 *
 * Hot path: `valueConverter(column)` builds one closure per column (per relation), the
 * closure parses with char-code loops; no regex is compiled per call and no Date objects
 * are used (they lose microseconds and range). Calendar arithmetic is proleptic
 * Gregorian with astronomical years (1 BC = year 0), integer days-from-civil.
 *
 * Special values (documented in values/README.md):
 * - date 'infinity' / '-infinity' → 2147483647 / -2147483648 (int32 max / min).
 * - timestamp[tz] 'infinity' / '-infinity' → 2^63-1 / -2^63 (int64 max / min) microseconds.
 *   Timestamps after 294247-01-10 04:00:54.775807 UTC (PostgreSQL allows up to 294276 AD)
 *   do not fit int64 microseconds since 1970 → ValueError.
 * - float 'NaN', 'Infinity', '-Infinity' → NaN, ±Infinity. float4 values are rounded with
 *   Math.fround so the JS number is exactly the float32 that Avro `float` carries.
 * - numeric(p,s) 'NaN' / '±Infinity' → ValueError: the Avro decimal type cannot hold them.
 *   Unconstrained numeric keeps the text, so 'NaN' and 'Infinity' pass through.
 */
import { DATE_NEG_INFINITY, DATE_POS_INFINITY, TIMESTAMP_NEG_INFINITY, TIMESTAMP_POS_INFINITY, ValueError } from '@walrelay/core';
import type { ColumnSpec, ValueKind } from '@walrelay/core';

export type TextConverter = (text: string) => unknown;

export interface ConverterOptions {
  /**
   * Array element delimiter (pg_type.typdelim of the element type). Default: ';' when the
   * element type is `box`, else ','.
   */
  readonly delimiter?: string;
}

// ---------------------------------------------------------------------------------------
// Errors

const MAX_SHOWN = 64;

function shorten(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…(${text.length} chars)` : text;
}

function invalid(column: ColumnSpec, kind: string, text: string, why?: string): ValueError {
  return new ValueError(
    `column "${column.name}": invalid ${kind} text ${JSON.stringify(shorten(text))}${why ? `: ${why}` : ''}`,
    { details: { column: column.name, kind, value: shorten(text) } },
  );
}

// ---------------------------------------------------------------------------------------
// Constants

const C_0 = 48;
const C_9 = 57;
const C_MINUS = 45;
const C_PLUS = 43;
const C_DOT = 46;
const C_COLON = 58;
const C_SPACE = 32;
const C_QUOTE = 34;
const C_BACKSLASH = 92;
const C_LBRACE = 123;
const C_RBRACE = 125;
const C_LBRACKET = 91;

// The ±infinity sentinels are part of the wire contract (core's wire/sentinels.ts).
export { DATE_POS_INFINITY, DATE_NEG_INFINITY, TIMESTAMP_POS_INFINITY, TIMESTAMP_NEG_INFINITY };

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;
const MICROS_PER_DAY = 86_400_000_000;
const MICROS_PER_SECOND = 1_000_000;
/** |seconds| below this: seconds * 1e6 + micros is exact in a double. */
const SAFE_SECONDS = 9_000_000_000;

const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NUMERIC_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// ---------------------------------------------------------------------------------------
// Scalars

function toBoolean(column: ColumnSpec, text: string): boolean {
  if (text === 't') return true;
  if (text === 'f') return false;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalid(column, 'boolean', text);
}

/** Strict decimal integer (optional '-'), as a number; for int16/int32 only. */
function toSmallInt(column: ColumnSpec, text: string, kind: string, min: number, max: number): number {
  const len = text.length;
  let i = 0;
  let negative = false;
  if (len > 0 && text.charCodeAt(0) === C_MINUS) {
    negative = true;
    i = 1;
  }
  if (i >= len || len > 12) throw invalid(column, kind, text);
  let n = 0;
  for (; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < C_0 || c > C_9) throw invalid(column, kind, text);
    n = n * 10 + (c - C_0);
  }
  if (negative) n = -n;
  if (n < min || n > max) throw invalid(column, kind, text, 'out of range');
  return n === 0 ? 0 : n; // no -0
}

function toInt16(column: ColumnSpec, text: string): number {
  return toSmallInt(column, text, 'int16', -32768, 32767);
}

function toInt32(column: ColumnSpec, text: string): number {
  return toSmallInt(column, text, 'int32', -2147483648, 2147483647);
}

function toInt64(column: ColumnSpec, text: string): bigint {
  const len = text.length;
  const start = len > 0 && text.charCodeAt(0) === C_MINUS ? 1 : 0;
  if (start >= len || len > 20) throw invalid(column, 'int64', text);
  let small = 0;
  for (let i = start; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < C_0 || c > C_9) throw invalid(column, 'int64', text);
    small = small * 10 + (c - C_0);
  }
  // Up to 15 digits the double is exact and BigInt(number) is cheaper than parsing text.
  if (len - start <= 15) return BigInt(start === 1 ? -small : small);
  const n = BigInt(text);
  if (n < INT64_MIN || n > INT64_MAX) throw invalid(column, 'int64', text, 'out of range');
  return n;
}

function toFloat64(column: ColumnSpec, text: string): number {
  if (text === 'NaN') return NaN;
  if (text === 'Infinity') return Infinity;
  if (text === '-Infinity') return -Infinity;
  if (!FLOAT_RE.test(text)) throw invalid(column, 'float', text);
  return Number(text);
}

function toFloat32(column: ColumnSpec, text: string): number {
  return Math.fround(toFloat64(column, text));
}

/**
 * numeric(p,s) → canonical decimal string with exactly `scale` fraction digits, no
 * superfluous leading zeros, no negative zero (the form core's Avro decimal decodes to).
 */
function toDecimal(column: ColumnSpec, text: string): string {
  const scale = column.scale ?? 0;
  const precision = column.precision ?? 0;
  const len = text.length;
  if (len === 0) throw invalid(column, 'decimal', text);
  let i = 0;
  let negative = false;
  const first = text.charCodeAt(0);
  if (first === C_MINUS || first === C_PLUS) {
    negative = first === C_MINUS;
    i = 1;
  }
  // Integer digits, skipping leading zeros.
  let intStart = -1;
  let intDigits = 0;
  let sawDigit = false;
  for (; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < C_0 || c > C_9) break;
    sawDigit = true;
    if (intStart < 0) {
      if (c === C_0) continue;
      intStart = i;
    }
    intDigits++;
  }
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  if (i < len && text.charCodeAt(i) === C_DOT) {
    fracStart = ++i;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c < C_0 || c > C_9) break;
      sawDigit = true;
    }
    fracEnd = i;
  }
  if (i !== len || !sawDigit) {
    if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') {
      throw new ValueError(
        `column "${column.name}": numeric(${precision},${scale}) value ${text} cannot be represented as an Avro decimal`,
        { details: { column: column.name, kind: 'decimal', value: text } },
      );
    }
    throw invalid(column, 'decimal', text);
  }
  let fracLen = fracEnd - fracStart;
  if (fracLen > scale) {
    for (let j = fracStart + scale; j < fracEnd; j++) {
      if (text.charCodeAt(j) !== C_0) throw invalid(column, 'decimal', text, `more than ${scale} fraction digits`);
    }
    fracLen = scale;
  }
  if (precision > 0 && intDigits > precision - scale) {
    throw invalid(column, 'decimal', text, `does not fit numeric(${precision},${scale})`);
  }
  const intPart = intStart < 0 ? '0' : text.slice(intStart, intEnd);
  let frac = fracLen > 0 ? text.slice(fracStart, fracStart + fracLen) : '';
  if (fracLen < scale) frac = frac.padEnd(scale, '0');
  if (negative) {
    let zero = intStart < 0;
    if (zero) {
      for (let j = 0; j < frac.length; j++) {
        if (frac.charCodeAt(j) !== C_0) {
          zero = false;
          break;
        }
      }
    }
    if (zero) negative = false;
  }
  const body = scale > 0 ? `${intPart}.${frac}` : intPart;
  return negative ? `-${body}` : body;
}

function toNumeric(column: ColumnSpec, text: string): string {
  if (NUMERIC_RE.test(text) || text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
  throw invalid(column, 'numeric', text);
}

function toText(_column: ColumnSpec, text: string): string {
  return text;
}

function toUuid(column: ColumnSpec, text: string): string {
  if (!UUID_RE.test(text)) throw invalid(column, 'uuid', text);
  return text.toLowerCase();
}

function toBytes(column: ColumnSpec, text: string): Buffer {
  const len = text.length;
  if (len < 2 || text.charCodeAt(0) !== C_BACKSLASH || text.charCodeAt(1) !== 120 /* x */ || (len & 1) !== 0) {
    throw invalid(column, 'bytea', text, 'expected hex format (bytea_output=hex)');
  }
  const buf = Buffer.from(text.slice(2), 'hex');
  if (buf.length * 2 !== len - 2) throw invalid(column, 'bytea', text, 'bad hex digit');
  return buf;
}

// ---------------------------------------------------------------------------------------
// Dates and times. The parsers share module-level cursor state instead of allocating
// result objects: JS is single-threaded and none of them re-enters another.

let pos = 0;
let pYear = 0;
let pMonth = 0;
let pDay = 0;

/** Reads >= min digits at `pos` (at most max); returns -1 if fewer than min. */
function digits(text: string, min: number, max: number): number {
  const len = text.length;
  let n = 0;
  let count = 0;
  while (pos < len && count < max) {
    const c = text.charCodeAt(pos);
    if (c < C_0 || c > C_9) break;
    n = n * 10 + (c - C_0);
    pos++;
    count++;
  }
  return count < min ? -1 : n;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date, astronomical year (H. Hinnant). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Parses 'YYYY-MM-DD' (year has 4+ digits) at pos into pYear/pMonth/pDay (year as printed). */
function parseDateParts(text: string): boolean {
  pYear = digits(text, 4, 9);
  if (pYear < 0 || text.charCodeAt(pos) !== C_MINUS) return false;
  pos++;
  pMonth = digits(text, 2, 2);
  if (pMonth < 1 || pMonth > 12 || text.charCodeAt(pos) !== C_MINUS) return false;
  pos++;
  pDay = digits(text, 2, 2);
  return pDay >= 1;
}

/** ' BC' at pos: consumes it and returns true. */
function parseBC(text: string): boolean {
  if (
    pos + 3 === text.length &&
    text.charCodeAt(pos) === C_SPACE &&
    text.charCodeAt(pos + 1) === 66 /* B */ &&
    text.charCodeAt(pos + 2) === 67 /* C */
  ) {
    pos += 3;
    return true;
  }
  return false;
}

/** Validates pDay and returns days since epoch, applying BC; NaN if invalid. */
function civilDays(bc: boolean): number {
  if (bc && pYear === 0) return NaN; // there is no year 0 BC
  const year = bc ? 1 - pYear : pYear;
  if (pDay > daysInMonth(year, pMonth)) return NaN;
  return daysFromCivil(year, pMonth, pDay);
}

/** Parses 'HH:MM:SS[.ffffff]' at pos; returns micros since midnight, or -1. */
function parseTimeOfDay(text: string): number {
  const h = digits(text, 2, 2);
  if (h < 0 || h > 24 || text.charCodeAt(pos) !== C_COLON) return -1;
  pos++;
  const m = digits(text, 2, 2);
  if (m < 0 || m > 59 || text.charCodeAt(pos) !== C_COLON) return -1;
  pos++;
  const s = digits(text, 2, 2);
  if (s < 0 || s > 59) return -1;
  let micros = 0;
  if (pos < text.length && text.charCodeAt(pos) === C_DOT) {
    pos++;
    const start = pos;
    const f = digits(text, 1, 6);
    if (f < 0) return -1;
    micros = f * 10 ** (6 - (pos - start));
    // More than 6 fraction digits are not produced by PostgreSQL.
    const c = text.charCodeAt(pos);
    if (c >= C_0 && c <= C_9) return -1;
  }
  const total = ((h * 60 + m) * 60 + s) * MICROS_PER_SECOND + micros;
  if (total > MICROS_PER_DAY) return -1; // only 24:00:00 exactly past 23:59:59.999999
  return total;
}

/** Parses a UTC offset '±HH[:MM[:SS]]' at pos; returns seconds east of UTC, or NaN. */
function parseOffset(text: string): number {
  const sign = text.charCodeAt(pos);
  if (sign !== C_PLUS && sign !== C_MINUS) return NaN;
  pos++;
  const h = digits(text, 2, 2);
  if (h < 0) return NaN;
  let seconds = h * 3600;
  if (text.charCodeAt(pos) === C_COLON) {
    pos++;
    const m = digits(text, 2, 2);
    if (m < 0 || m > 59) return NaN;
    seconds += m * 60;
    if (text.charCodeAt(pos) === C_COLON) {
      pos++;
      const s = digits(text, 2, 2);
      if (s < 0 || s > 59) return NaN;
      seconds += s;
    }
  }
  return sign === C_MINUS ? -seconds : seconds;
}

function toDate(column: ColumnSpec, text: string): number {
  if (text === 'infinity') return DATE_POS_INFINITY;
  if (text === '-infinity') return DATE_NEG_INFINITY;
  pos = 0;
  if (!parseDateParts(text)) throw invalid(column, 'date', text);
  const bc = parseBC(text);
  if (pos !== text.length) throw invalid(column, 'date', text);
  const days = civilDays(bc);
  if (Number.isNaN(days)) throw invalid(column, 'date', text);
  if (days >= DATE_POS_INFINITY || days <= DATE_NEG_INFINITY) throw invalid(column, 'date', text, 'out of range');
  return days;
}

function toTime(column: ColumnSpec, text: string): bigint {
  pos = 0;
  const micros = parseTimeOfDay(text);
  if (micros < 0 || pos !== text.length) throw invalid(column, 'time', text);
  return BigInt(micros);
}

function timestampMicros(column: ColumnSpec, text: string, withZone: boolean): bigint {
  const kind = withZone ? 'timestamptz' : 'timestamp';
  if (text === 'infinity') return TIMESTAMP_POS_INFINITY;
  if (text === '-infinity') return TIMESTAMP_NEG_INFINITY;
  pos = 0;
  if (!parseDateParts(text) || text.charCodeAt(pos) !== C_SPACE) throw invalid(column, kind, text);
  pos++;
  const micros = parseTimeOfDay(text);
  if (micros < 0) throw invalid(column, kind, text);
  let offset = 0;
  if (withZone) {
    offset = parseOffset(text);
    if (Number.isNaN(offset)) throw invalid(column, kind, text, 'expected a UTC offset');
  }
  const bc = parseBC(text);
  if (pos !== text.length) throw invalid(column, kind, text);
  const days = civilDays(bc);
  if (Number.isNaN(days)) throw invalid(column, kind, text);
  const seconds = days * 86400 - offset; // exact: |days| < 2^31
  if (seconds > -SAFE_SECONDS && seconds < SAFE_SECONDS) {
    return BigInt(seconds * MICROS_PER_SECOND + micros);
  }
  const big = BigInt(seconds) * 1_000_000n + BigInt(micros);
  if (big > INT64_MAX || big < INT64_MIN) {
    throw invalid(column, kind, text, 'out of range of int64 microseconds since 1970');
  }
  return big;
}

function toTimestamp(column: ColumnSpec, text: string): bigint {
  return timestampMicros(column, text, false);
}

function toTimestamptz(column: ColumnSpec, text: string): bigint {
  return timestampMicros(column, text, true);
}

// ---------------------------------------------------------------------------------------
// Arrays

type ScalarFn = (column: ColumnSpec, text: string) => unknown;

const SCALAR: Record<Exclude<ValueKind, 'array'>, ScalarFn> = {
  boolean: toBoolean,
  int16: toInt16,
  int32: toInt32,
  int64: toInt64,
  float32: toFloat32,
  float64: toFloat64,
  decimal: toDecimal,
  numeric: toNumeric,
  text: toText,
  bytes: toBytes,
  uuid: toUuid,
  json: toText,
  date: toDate,
  time: toTime,
  timetz: toText,
  timestamp: toTimestamp,
  timestamptz: toTimestamptz,
  interval: toText,
  enum: toText,
  other: toText,
};

/** Element conversion inside arrays: decimal elements travel as text (Avro items are strings). */
function elementFn(kind: ValueKind): ScalarFn {
  if (kind === 'array') return toText; // arrays of arrays are rejected by the schema; keep text
  if (kind === 'decimal') return toNumeric;
  return SCALAR[kind];
}

function isSpace(c: number): boolean {
  return c === C_SPACE || (c >= 9 && c <= 13);
}

/**
 * Parses PostgreSQL's one-dimensional array text `[lb:ub]={a,"b \"c\"",NULL}`.
 * Unquoted NULL (any case) is null; quoted "NULL" is the string.
 */
function parseArray(
  column: ColumnSpec,
  text: string,
  element: ScalarFn,
  elementSpec: ColumnSpec,
  delim: number,
): unknown[] {
  const len = text.length;
  let i = 0;
  if (len > 0 && text.charCodeAt(0) === C_LBRACKET) {
    // Dimension decoration: one [lb:ub] per dimension, then '='.
    let dims = 0;
    while (i < len && text.charCodeAt(i) === C_LBRACKET) {
      const close = text.indexOf(']', i);
      if (close < 0) throw invalid(column, 'array', text, 'bad dimension decoration');
      dims++;
      i = close + 1;
    }
    if (dims > 1) throw multiDim(column, text);
    if (text.charCodeAt(i) !== 61 /* = */) throw invalid(column, 'array', text, 'bad dimension decoration');
    i++;
  }
  if (text.charCodeAt(i) !== C_LBRACE) throw invalid(column, 'array', text);
  i++;
  const out: unknown[] = [];
  // Empty array.
  while (i < len && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === C_RBRACE) {
    if (i + 1 !== len) throw invalid(column, 'array', text);
    return out;
  }
  for (;;) {
    while (i < len && isSpace(text.charCodeAt(i))) i++;
    if (i >= len) throw invalid(column, 'array', text, 'unterminated');
    const c = text.charCodeAt(i);
    if (c === C_LBRACE) throw multiDim(column, text);
    if (c === C_QUOTE) {
      // Quoted element: backslash escapes the next char.
      i++;
      let start = i;
      let value = '';
      for (;;) {
        if (i >= len) throw invalid(column, 'array', text, 'unterminated quoted element');
        const q = text.charCodeAt(i);
        if (q === C_QUOTE) break;
        if (q === C_BACKSLASH) {
          value += text.slice(start, i);
          i++;
          if (i >= len) throw invalid(column, 'array', text, 'unterminated quoted element');
          start = i; // the escaped char is kept literally
        }
        i++;
      }
      value += text.slice(start, i);
      i++;
      out.push(element(elementSpec, value));
      while (i < len && isSpace(text.charCodeAt(i))) i++;
    } else {
      // Unquoted element: up to the delimiter or '}', trimmed; backslash escapes.
      let start = i;
      let value = '';
      let escaped = false;
      let lastNonSpace = -1;
      for (;;) {
        if (i >= len) throw invalid(column, 'array', text, 'unterminated');
        const u = text.charCodeAt(i);
        if (u === delim || u === C_RBRACE) break;
        if (u === C_QUOTE || u === C_LBRACE) throw invalid(column, 'array', text);
        if (u === C_BACKSLASH) {
          value += text.slice(start, i);
          i++;
          if (i >= len) throw invalid(column, 'array', text, 'unterminated');
          start = i;
          escaped = true;
          lastNonSpace = i;
        } else if (!isSpace(u)) {
          lastNonSpace = i;
        }
        i++;
      }
      if (lastNonSpace < 0) throw invalid(column, 'array', text, 'empty element');
      value += text.slice(start, lastNonSpace + 1);
      if (!escaped && value.length === 4 && value.toUpperCase() === 'NULL') out.push(null);
      else out.push(element(elementSpec, value));
    }
    const sep = text.charCodeAt(i);
    if (sep === delim) {
      i++;
      continue;
    }
    if (sep === C_RBRACE) {
      i++;
      break;
    }
    throw invalid(column, 'array', text);
  }
  if (i !== len) throw invalid(column, 'array', text, 'text after the closing brace');
  return out;
}

function multiDim(column: ColumnSpec, text: string): ValueError {
  return new ValueError(
    `column "${column.name}": multi-dimensional arrays are not supported (value ${JSON.stringify(shorten(text))})`,
    { details: { column: column.name, kind: 'array', value: shorten(text) } },
  );
}

function arrayConverter(column: ColumnSpec, options?: ConverterOptions): TextConverter {
  const kind = column.element ?? 'other';
  const element = elementFn(kind);
  const elementSpec: ColumnSpec = {
    ...column,
    name: column.name,
    kind,
    pgType: column.elementPgType ?? column.pgType,
  };
  const delimiter = options?.delimiter ?? (column.elementPgType === 'box' ? ';' : ',');
  if (delimiter.length !== 1) throw new ValueError(`column "${column.name}": array delimiter must be one character`);
  const delim = delimiter.charCodeAt(0);
  return (text) => parseArray(column, text, element, elementSpec, delim);
}

// ---------------------------------------------------------------------------------------
// Public API

/**
 * A converter for one column: build once per relation, call per value. The text is what
 * PostgreSQL prints for a non-null value (pgoutput 't' column data, or `col::text`).
 */
export function valueConverter(column: ColumnSpec, options?: ConverterOptions): TextConverter {
  if (column.kind === 'array') return arrayConverter(column, options);
  const fn = SCALAR[column.kind];
  if (fn === undefined) throw new ValueError(`column "${column.name}": unknown value kind ${String(column.kind)}`);
  if (fn === toText) return identity;
  return (text) => fn(column, text);
}

function identity(text: string): string {
  return text;
}

const cache = new WeakMap<ColumnSpec, TextConverter>();

/** One-off conversion; caches the converter per ColumnSpec object. */
export function textToValue(column: ColumnSpec, text: string): unknown {
  if (column.kind !== 'array') {
    const fn = SCALAR[column.kind];
    if (fn === undefined) throw new ValueError(`column "${column.name}": unknown value kind ${String(column.kind)}`);
    return fn(column, text);
  }
  let conv = cache.get(column);
  if (!conv) {
    conv = arrayConverter(column);
    cache.set(column, conv);
  }
  return conv(text);
}
