import { bigIntToBytes, TIMESTAMP_NEG_INFINITY, TIMESTAMP_POS_INFINITY, ValueError } from '@walrelay/core';
import type { ConnectEncoding, ConnectField } from './connect-schema.js';

/**
 * walrelay's value of a column (see core's column.ts: the JS value the source's converters make
 * from PostgreSQL's text) → the value Debezium's PostgreSQL connector writes for it.
 */

/** pgjdbc's ±infinity markers (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY, ms), which Debezium writes as micros. */
export const DEBEZIUM_POS_INFINITY_MICROS = 9_223_372_036_825_200_000n;
export const DEBEZIUM_NEG_INFINITY_MICROS = -9_223_372_036_832_400_000n;

/** Debezium's MicroDuration month: 30.4375 days (365.25 / 12). */
const DAYS_PER_MONTH = 30.4375;

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Java's ISO year: 4 digits, `+` beyond 9999, `-` before year 0 (astronomical years). */
function isoYear(y: number): string {
  if (y > 9999) return `+${y}`;
  if (y < 0) return `-${pad(-y, 4)}`;
  return pad(y, 4);
}

/** Proleptic Gregorian civil date of a day number since 1970-01-01. */
function civilFromDays(z0: number): [number, number, number] {
  const z = z0 + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** `2024-01-02T01:04:05.123456Z`: UTC, fraction padded to the column's precision (Debezium's ZonedTimestamp). */
export function zonedTimestampText(micros: bigint, fraction: number): string {
  if (micros === TIMESTAMP_POS_INFINITY) return 'infinity';
  if (micros === TIMESTAMP_NEG_INFINITY) return '-infinity';
  const day = 86_400_000_000n;
  let days = micros / day;
  let rest = micros % day;
  if (rest < 0n) {
    rest += day;
    days -= 1n;
  }
  const [y, m, d] = civilFromDays(Number(days));
  const secs = Number(rest / 1_000_000n);
  const frac = (rest % 1_000_000n).toString().padStart(6, '0');
  const f = fraction > 0 ? `.${frac.slice(0, Math.min(6, fraction)).padEnd(fraction, '0')}` : '';
  return `${isoYear(y)}-${pad(m)}-${pad(d)}T${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}${f}Z`;
}

/** PostgreSQL's timetz text (`10:11:12.5+02`) → Debezium's ZonedTime in UTC (`08:11:12.5Z`). */
export function zonedTimeText(text: string, where: string): string {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$/.exec(text);
  if (!m) throw new ValueError(`${where}: not a timetz text: ${JSON.stringify(text)}`);
  const [, h, mi, s, frac = '', sign, oh, om = '0', os = '0'] = m as unknown as string[];
  const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  let secs = (Number(h) * 3600 + Number(mi) * 60 + Number(s) - offset) % 86_400;
  if (secs < 0) secs += 86_400;
  const f = frac.replace(/0+$/, '');
  return `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}${f ? `.${f}` : ''}Z`;
}

/**
 * PostgreSQL's ISO 8601 interval text (`P1Y2M3DT4H5M6.5S`, parts may be negative) → Debezium's
 * MicroDuration: microseconds with a month of 30.4375 days, computed in doubles as Debezium does.
 */
export function microDuration(text: string, where: string): bigint {
  const m = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) throw new ValueError(`${where}: not an ISO 8601 interval: ${JSON.stringify(text)}`);
  const n = (i: number): number => Number(m[i] ?? 0);
  const secText = m[6] ?? '0';
  const wholeSecs = Math.trunc(Number(secText));
  const fracMicros = Math.round((Number(secText) - wholeSecs) * 1e6);
  const days = (n(1) * 12 + n(2)) * DAYS_PER_MONTH + n(3);
  const seconds = ((days * 24 + n(4)) * 60 + n(5)) * 60 + wholeSecs;
  return BigInt(Math.trunc(seconds * 1e6 + fracMicros));
}

/** Bit string text (`10100101`, leftmost bit first) → the bytes of Java's BitSet, bit 0 = the last character. */
export function bitSetBytes(text: string, padTo: number | null, where: string): Buffer {
  if (!/^[01]*$/.test(text)) throw new ValueError(`${where}: not a bit string: ${JSON.stringify(text.slice(0, 64))}`);
  const len = text.length;
  const bytes = Buffer.alloc(Math.ceil(len / 8));
  for (let i = 0; i < len; i++) {
    if (text.charCodeAt(len - 1 - i) === 49) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
  }
  // BitSet.toByteArray stops at the last byte holding a set bit; bit(n) is padded to its bytes.
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const minimal = bytes.subarray(0, end);
  if (padTo === null || minimal.length >= padTo) return Buffer.from(minimal);
  const out = Buffer.alloc(padTo);
  minimal.copy(out);
  return out;
}

/** An exact decimal string → Debezium's VariableScaleDecimal (scale + unscaled two's-complement bytes). */
export function variableScaleDecimal(text: string, where: string): { scale: number; value: Buffer } {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new ValueError(
      `${where}: numeric ${JSON.stringify(text)} has no Debezium VariableScaleDecimal (Debezium writes NaN and ±Infinity as null): format debezium refuses it; use format walrelay for this table's topic or store a finite number`,
    );
  }
  // Debezium's BigDecimal drops trailing fraction zeros (1.50 → scale 1).
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  let digits = `${m[2] ?? ''}${fraction}`;
  let scale = fraction.length - Number(m[4] ?? 0);
  if (scale < 0) {
    digits += '0'.repeat(-scale);
    scale = 0;
  }
  const unscaled = BigInt(digits === '' ? '0' : digits) * (m[1] === '-' ? -1n : 1n);
  return { scale, value: bigIntToBytes(unscaled) };
}

/** PostgreSQL's money text (`$1,234.56`, `-$1.00`, lc_monetary's symbol) → a decimal string with scale 2. */
export function moneyDecimal(text: string, where: string): string {
  const negative = /^\s*-|^\s*\(/.test(text);
  const digits = text.replace(/[^0-9.]/g, '');
  if (!/^\d+(\.\d{1,2})?$/.test(digits)) throw new ValueError(`${where}: money text ${JSON.stringify(text)} is not in a form walrelay reads as a decimal (lc_monetary with '.' as decimal point)`);
  return negative ? `-${digits}` : digits;
}

function toBig(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number);
}

function timestampOf(v: unknown, milli: boolean): bigint {
  const n = toBig(v);
  if (n === TIMESTAMP_POS_INFINITY) return milli ? DEBEZIUM_POS_INFINITY_MICROS / 1000n : DEBEZIUM_POS_INFINITY_MICROS;
  if (n === TIMESTAMP_NEG_INFINITY) return milli ? DEBEZIUM_NEG_INFINITY_MICROS / 1000n : DEBEZIUM_NEG_INFINITY_MICROS;
  if (!milli) return n;
  // Adaptive precision ≤ 3: milliseconds (PostgreSQL rounded the value to them already).
  return n >= 0n ? n / 1000n : -((-n + 999n) / 1000n);
}

/** Converts one non-null walrelay value of a scalar encoding. */
export function connectValue(encoding: ConnectEncoding, v: unknown, f: Pick<ConnectField, 'fraction' | 'bitBytes'>, where: string): unknown {
  switch (encoding) {
    case 'same':
    case 'decimal':
      return v;
    case 'int16':
      return v;
    case 'variableScaleDecimal':
      return variableScaleDecimal(String(v), where);
    case 'money':
      return moneyDecimal(String(v), where);
    case 'date':
      // walrelay's ±infinity sentinels (int32 max/min days) pass through as they are.
      return Number(v);
    case 'microTime':
      return toBig(v);
    case 'milliTime':
      return Number(toBig(v) / 1000n);
    case 'microTimestamp':
      return timestampOf(v, false);
    case 'milliTimestamp':
      return timestampOf(v, true);
    case 'zonedTimestamp':
      return zonedTimestampText(toBig(v), f.fraction);
    case 'zonedTime':
      return zonedTimeText(String(v), where);
    case 'microDuration':
      return microDuration(String(v), where);
    case 'bit1':
      if (v !== '0' && v !== '1') throw new ValueError(`${where}: bit(1) value ${JSON.stringify(v)}`);
      return v === '1';
    case 'bits':
      return bitSetBytes(String(v), f.bitBytes, where);
    case 'varbits':
      return bitSetBytes(String(v), null, where);
  }
}
