import avro from 'avsc';
import { DecodeError, ValueError } from '../errors.js';
import { MAGIC_BYTE } from './wire-format.js';

/**
 * Avro types for walrelay's records.
 *
 * - `long` is bigint-backed: int8 keys, LSNs and microsecond timestamps exceed 2^53.
 * - `decimal` (bytes) is a string of digits in JS, exact at any precision.
 * - Other logical types (date, time-micros, timestamp-micros, uuid) keep their
 *   underlying representation (days as number, micros as bigint, uuid as string).
 */
const LONG_MIN = -(2n ** 63n);
const LONG_LIMIT = 2n ** 63n;
/** Below this magnitude a long's zigzag form (2|n|) is exact in a double: writeNumberLong serves. */
const NUMBER_SAFE_DOUBLE = 2 ** 52;

/** avsc's Tap: the buffer being read or written and the position in it. */
interface Tap {
  buf: Buffer;
  pos: number;
  writeLong(n: number): void;
}

/**
 * Writes a bigint of magnitude 2^52 or more as Avro's zigzag varint straight into the tap, in
 * bigint arithmetic (smaller ones, every LSN, timestamp, xid and sequence in practice, take
 * writeNumberLong). Past the buffer's end the bytes are dropped and the position still
 * advances, as avsc's own writers do (the caller then resizes and writes again).
 */
function writeBigLong(tap: Tap, n: bigint): void {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const buf = tap.buf;
  while (z >= 0x80n) {
    buf[tap.pos++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  buf[tap.pos++] = Number(z);
}

/** 2^28: the low four varint bytes of a zigzag value hold 28 bits. */
const LOW_28 = 0x10000000;

/**
 * The zigzag varint of an integer below 2^52 in magnitude (its zigzag form is then exact in a
 * double), in double arithmetic here rather than through avsc's writeLong: the number passed to
 * it was a heap number per long beyond 2^30 (an LSN, a timestamp), a tenth of the source's garbage.
 * Below 2^31 the zigzag form is an int32 and is written with bit operations; above it one
 * division splits it into its low 28 bits and the rest (< 2^25), each written with bit operations
 * (a remainder and a floor per byte cost ≈120 ns for a microsecond timestamp, against ≈10 ns).
 */
function writeNumberLong(tap: Tap, v: number): void {
  const z = v >= 0 ? v * 2 : -v * 2 - 1;
  const buf = tap.buf;
  let pos = tap.pos;
  let rest: number;
  if (z < 0x80000000) {
    rest = z | 0;
  } else {
    rest = Math.floor(z / LOW_28);
    const low = z - rest * LOW_28;
    buf[pos++] = (low & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 7) & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 14) & 0x7f) | 0x80;
    buf[pos++] = ((low >>> 21) & 0x7f) | 0x80;
  }
  while (rest >= 0x80) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[pos++] = rest;
  tap.pos = pos;
}

/**
 * Reads an Avro zigzag varint as an exact bigint. The first 7 bytes (49 bits) are summed in a
 * double (exact); up to 3 more bytes carry bits 49–69. A zigzag value below 2^53 (every LSN,
 * xid and microsecond timestamp: `ts_us` and `timestamptz` columns take 8 bytes) is decoded in
 * the double and converted once; a larger one is assembled from two 32-bit halves (two bigint
 * conversions instead of a bigint operation per byte). Bits past the 64th are dropped, as in a
 * 64-bit reader. On a truncated buffer the missing bytes read as 0 and the position passes the
 * end, which avsc's caller reports.
 */
function readBigLong(tap: Tap): bigint {
  const buf = tap.buf;
  let pos = tap.pos;
  let z = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const b = buf[pos++] ?? 0;
    z += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      tap.pos = pos;
      return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
    }
    scale *= 128;
  }
  // Bits 49 and up: at most 3 more bytes (a 64-bit varint has 10).
  let high = 0;
  let highScale = 1;
  for (let i = 0; i < 3; i++) {
    const b = buf[pos++] ?? 0;
    high += (b & 0x7f) * highScale;
    if ((b & 0x80) === 0) break;
    highScale *= 128;
  }
  tap.pos = pos;
  if (high < 16) {
    const u = z + high * 2 ** 49; // < 2^53: exact
    return BigInt(u % 2 === 0 ? u / 2 : -(u + 1) / 2);
  }
  // u = high·2^49 + z, as 32-bit halves (mod 2^64), then zigzag-decoded on the halves.
  const lo = z % 2 ** 32;
  const hi = (Math.floor(z / 2 ** 32) + (high % 2 ** 15) * 2 ** 17) % 2 ** 32;
  let rlo = (lo >>> 1) | ((hi & 1) << 31);
  let rhi = hi >>> 1;
  if (lo % 2 === 1) {
    rlo = ~rlo;
    rhi = ~rhi;
  }
  return (BigInt(rhi | 0) << 32n) + BigInt(rlo >>> 0);
}

const longMethods = {
  // Used only by avsc's generic paths (resolution, copies); the hot paths are _read/_write below.
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    return b;
  },
  fromJSON: (v: unknown) => BigInt(v as string | number),
  toJSON: (n: bigint) => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= LONG_MIN && n < LONG_LIMIT,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
};

/**
 * avsc's custom long (`LongType.__with`) packs every value into an 8-byte buffer and then
 * into a varint (and back), an allocation and a byte loop per value: the source writes ten
 * longs per change. This type keeps __with's contract (bigint in, bigint out, same
 * validation) and reads and writes the varint directly (docs/performance.md).
 */
function bigIntLongType(): avro.Type {
  const template = avro.types.LongType.__with(longMethods) as unknown as Record<string, unknown>;
  const type = Object.assign(Object.create(Object.getPrototypeOf(template) as object) as Record<string, unknown>, template);
  type._write = (tap: Tap, n: unknown): void => {
    if (typeof n === 'bigint') {
      // Below 2^52 in magnitude (nearly every value) the range check is one conversion and two
      // double comparisons; four bigint comparisons per long were a tenth of the source's encoding.
      // Number(n) rounds monotonically and ±2^52 are doubles: |Number(n)| < 2^52 exactly when |n| < 2^52.
      const v = Number(n);
      if (v > -NUMBER_SAFE_DOUBLE && v < NUMBER_SAFE_DOUBLE) {
        writeNumberLong(tap, v);
        return;
      }
      if (n >= LONG_MIN && n < LONG_LIMIT) {
        writeBigLong(tap, n);
        return;
      }
    }
    throw new Error(`invalid "long": ${typeof n === 'bigint' ? n.toString() : JSON.stringify(n) ?? String(n)}`);
  };
  type._read = readBigLong;
  return Object.freeze(type) as unknown as avro.Type;
}
const BigIntLong = bigIntLongType();

/** Strings of at most this many bytes are read through the table of short strings. */
const SHORT_STRING_BYTES = 24;
/** Slots of the table of short strings (a power of two). */
const SHORT_STRING_SLOTS = 1024;
const shortStrings: (string | undefined)[] = new Array<string | undefined>(SHORT_STRING_SLOTS).fill(undefined);

/**
 * A short ASCII string of `buf[start, start + len)`, the same string object as the last one read
 * with these bytes when it is still in its slot of the table: a sink decodes the same few short
 * strings in every record (op, the source block's schema, table and snapshot flag, and short
 * column values such as status codes), each a new string from `utf8Slice` before (a native call
 * and an allocation per string). Undefined when a byte is not ASCII (then utf8Slice decodes it).
 * The slot is picked by an FNV-1a hash of the bytes, and a hit compares every byte with the
 * cached string's characters: the string returned always has exactly these bytes.
 */
function shortAsciiString(buf: Buffer, start: number, len: number): string | undefined {
  let h = 0x811c9dc5;
  for (let i = start; i < start + len; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return undefined;
    h = Math.imul(h ^ b, 0x01000193);
  }
  const slot = (h ^ len) & (SHORT_STRING_SLOTS - 1);
  const cached = shortStrings[slot];
  if (cached !== undefined && cached.length === len) {
    let i = 0;
    while (i < len && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === len) return cached;
  }
  const s = (buf as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, start + len);
  shortStrings[slot] = s;
  return s;
}

/**
 * avsc's string, written without `Buffer.byteLength` for a short ASCII string (the source block
 * has eight per change): its bytes are its characters, and its length (< 64) a one-byte varint,
 * so the characters are copied as they are checked. Anything else (longer, not ASCII, near the
 * buffer's end) and anything that is not a string go to avsc's own writer. Same bytes, same errors.
 * Read: a short ASCII string through the table of short strings (shortAsciiString), anything
 * else (longer, not ASCII, a length of more than one byte, truncated) by avsc's own reader.
 */
function fastStringType(): avro.Type {
  const template = avro.Type.forSchema('string') as unknown as Record<string, unknown>;
  const general = Object.getPrototypeOf(template) as { _write(this: unknown, tap: Tap, value: unknown): void; _read(this: unknown, tap: Tap): unknown };
  const type = Object.assign(Object.create(general as object) as Record<string, unknown>, template);
  type._read = function (this: unknown, tap: Tap): unknown {
    const buf = tap.buf;
    const at = tap.pos;
    const b = buf[at];
    // A one-byte zigzag varint of a length 1..SHORT_STRING_BYTES: an even byte 2..2·SHORT.
    if (b !== undefined && (b & 1) === 0 && b > 0 && b <= SHORT_STRING_BYTES << 1) {
      const len = b >> 1;
      const start = at + 1;
      if (start + len <= buf.length) {
        const s = shortAsciiString(buf, start, len);
        if (s !== undefined) {
          tap.pos = start + len;
          return s;
        }
      }
    }
    return general._read.call(this, tap);
  };
  type._write = function (this: unknown, tap: Tap, value: unknown): void {
    if (typeof value === 'string' && value.length < 64) {
      const n = value.length;
      const buf = tap.buf;
      const start = tap.pos;
      if (start + 1 + n <= buf.length) {
        let i = 0;
        for (; i < n; i++) {
          const c = value.charCodeAt(i);
          if (c >= 0x80) break;
          buf[start + 1 + i] = c;
        }
        if (i === n) {
          buf[start] = n << 1; // zigzag of n < 64: one byte
          tap.pos = start + 1 + n;
          return;
        }
      }
    }
    general._write.call(this, tap, value);
  };
  return Object.freeze(type) as unknown as avro.Type;
}
const FastString = fastStringType();

/** avsc's union of unwrapped values (its constructor and prototype; not in its TypeScript types). */
const UnwrappedUnion = (avro.types as unknown as { UnwrappedUnionType: new (schema: unknown, opts: unknown) => avro.Type }).UnwrappedUnionType;

/**
 * A union of null and one other type (every optional column and most of the source block).
 * avsc's own union picks the branch by testing the value against each branch, and for a
 * branch of a custom or logical type (our long, decimal) by running that branch's full
 * validation, which then runs again when the value is written (a decimal was parsed twice).
 * Here the branch is known from `null` alone; the branch's own writer still refuses a value
 * it cannot carry (so a bad value is an error exactly as before). Reading is avsc's.
 */
class NullableUnionType extends UnwrappedUnion {
  _write(tap: Tap, value: unknown): void {
    const types = (this as unknown as { types: { typeName: string; _write(tap: Tap, v: unknown): void }[] }).types;
    const nullFirst = types[0]!.typeName === 'null';
    if (value === null) {
      tap.writeLong(nullFirst ? 0 : 1);
      return;
    }
    if (value === undefined) throw new Error('invalid union value: undefined');
    tap.writeLong(nullFirst ? 1 : 0);
    types[nullFirst ? 1 : 0]!._write(tap, value);
  }
}

/** `['null', X]` or `[X, 'null']` with X not itself null or a union. */
function isNullableUnion(schema: unknown): boolean {
  if (!Array.isArray(schema) || schema.length !== 2) return false;
  const isNull = (s: unknown): boolean => s === 'null' || (typeof s === 'object' && s !== null && !Array.isArray(s) && (s as { type?: unknown }).type === 'null');
  const [a, b] = schema as unknown[];
  return (isNull(a) !== isNull(b)) && !Array.isArray(isNull(a) ? b : a);
}

/** Exact decimal: JS value is a plain decimal string such as `-12.340`. */
export class DecimalType extends avro.types.LogicalType {
  readonly precision: number;
  readonly scale: number;

  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts);
    const s = schema as { precision?: number; scale?: number };
    this.precision = s.precision ?? 0;
    this.scale = s.scale ?? 0;
  }

  override _fromValue(value: Buffer): string {
    return formatUnscaled(bytesToBigInt(value), this.scale);
  }

  override _toValue(value: unknown): Buffer {
    if (typeof value !== 'string') throw new ValueError(`decimal value must be a string, got ${typeof value}`);
    return bigIntToBytes(parseUnscaled(value, this.scale, this.precision));
  }

  /**
   * Writes the decimal's bytes straight into the tap when its unscaled value has at most 14
   * digits (exact in a double, at most 6 bytes): no regex, bigint or intermediate buffer.
   * Anything else (more digits, whitespace, an invalid or out-of-range text) takes the
   * general path, which carries it exactly or refuses it.
   */
  _write(tap: Tap, value: unknown): void {
    const v = typeof value === 'string' ? smallUnscaled(value, this.scale, this.precision) : undefined;
    if (v === undefined) {
      (avro.types.LogicalType.prototype as unknown as { _write(this: DecimalType, tap: Tap, value: unknown): void })._write.call(this, tap, value);
      return;
    }
    const len = signedByteLength(v);
    tap.writeLong(len);
    // Two's complement, big-endian; past the buffer's end the bytes are dropped and the
    // position still advances, as avsc's writers do (the caller resizes and writes again).
    let x = v < 0 ? v + 2 ** (8 * len) : v;
    const buf = tap.buf;
    const start = tap.pos;
    for (let i = len - 1; i >= 0; i--) {
      if (start + i < buf.length) buf[start + i] = x % 256;
      x = Math.floor(x / 256);
    }
    tap.pos = start + len;
  }

  override _resolve(type: avro.Type): ((x: unknown) => unknown) | undefined {
    if (type instanceof DecimalType && type.scale === this.scale) return (x) => x;
    return undefined;
  }
}

export function bytesToBigInt(buf: Buffer): bigint {
  if (buf.length === 0) return 0n;
  // Up to 6 bytes (48 bits) the driver reads it exactly as a number.
  if (buf.length <= 6) return BigInt(buf.readIntBE(0, buf.length));
  let n = 0n;
  for (const byte of buf) n = (n << 8n) | BigInt(byte);
  if ((buf[0] as number) & 0x80) n -= 1n << BigInt(buf.length * 8);
  return n;
}

const SIX_BYTES = 2n ** 47n;

/** The fewest bytes (1–6) that hold `v` in two's complement; `v` within ±2^47. */
function signedByteLength(v: number): number {
  let len = 1;
  while (len < 6 && (v < -(2 ** (8 * len - 1)) || v >= 2 ** (8 * len - 1))) len++;
  return len;
}

/** Two's complement, big-endian, minimal length (Avro's decimal bytes). */
export function bigIntToBytes(n: bigint): Buffer {
  if (n >= -SIX_BYTES && n < SIX_BYTES) {
    // Exact as a number: find the shortest length that holds it and let Buffer write it.
    const v = Number(n);
    const len = signedByteLength(v);
    const out = Buffer.allocUnsafe(len);
    out.writeIntBE(v, 0, len);
    return out;
  }
  const bytes: number[] = [];
  let v = n;
  for (;;) {
    const byte = Number(v & 0xffn);
    bytes.unshift(byte);
    v >>= 8n;
    if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
  }
  return Buffer.from(bytes);
}

/** Significant digits a double holds exactly with room to spare (10^14 < 2^47: six bytes). */
const SMALL_DECIMAL_DIGITS = 14;

/**
 * The unscaled value of a plain decimal text (`[+-]digits[.digits]`) as a number, when it is
 * valid, fits `precision` and `scale`, and has at most 14 significant digits; otherwise
 * undefined, and `parseUnscaled` decides (it carries the value or refuses it with its error).
 * Agrees with `parseUnscaled` wherever it answers (avro-codec.test.ts).
 */
export function smallUnscaled(text: string, scale: number, precision: number): number | undefined {
  const n = text.length;
  let i = 0;
  let negative = false;
  const first = text.charCodeAt(0);
  if (first === 45 || first === 43) {
    negative = first === 45;
    i = 1;
  }
  let v = 0;
  let significant = 0;
  let sawDigit = false;
  /** Fraction digits read so far (-1 before the point). */
  let fraction = -1;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 && fraction < 0) {
      fraction = 0;
      continue;
    }
    if (c < 48 || c > 57) return undefined;
    sawDigit = true;
    if (fraction >= 0) {
      // Digits past the scale must be zeros (parseUnscaled drops them, or refuses the value).
      if (fraction === scale) {
        if (c !== 48) return undefined;
        continue;
      }
      fraction++;
    }
    if (v === 0 && c === 48) continue;
    if (++significant > SMALL_DECIMAL_DIGITS) return undefined;
    v = v * 10 + (c - 48);
  }
  if (!sawDigit) return undefined;
  if (v === 0) return 0;
  const pad = scale - Math.max(fraction, 0);
  if (significant + pad > SMALL_DECIMAL_DIGITS || (precision > 0 && significant + pad > precision)) return undefined;
  for (let k = 0; k < pad; k++) v *= 10;
  return negative ? -v : v;
}

/** `"-12.3"` with scale 3 → -12300n. Rejects NaN/Infinity, too many digits, and lost precision. */
export function parseUnscaled(text: string, scale: number, precision: number): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new ValueError(`not a finite decimal number: ${JSON.stringify(text)}`);
  }
  const sign = m[1] === '-' ? -1n : 1n;
  let frac = m[3] ?? '';
  if (frac.length > scale) {
    if (/[^0]/.test(frac.slice(scale))) {
      throw new ValueError(`decimal ${text} has more than ${scale} fraction digits`);
    }
    frac = frac.slice(0, scale);
  }
  const digits = `${m[2] ?? ''}${frac.padEnd(scale, '0')}`.replace(/^0+(?=\d)/, '');
  if (precision > 0 && digits.replace(/^0+/, '').length > precision) {
    throw new ValueError(`decimal ${text} does not fit precision ${precision}, scale ${scale}`);
  }
  return sign * BigInt(digits === '' ? '0' : digits);
}

export function formatUnscaled(n: bigint, scale: number): string {
  const negative = n < 0n;
  let digits = (negative ? -n : n).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

const typeCache = new Map<string, avro.Type>();

/** Builds (once per distinct schema text) an avsc Type with walrelay's long and decimal. */
export function avroType(schema: string | object): avro.Type {
  const text = typeof schema === 'string' ? schema : JSON.stringify(schema);
  let type = typeCache.get(text);
  if (!type) {
    try {
      const parsed: unknown = typeof schema === 'string' && !/^\s*[[{"]/.test(schema) ? schema : JSON.parse(text);
      type = avro.Type.forSchema(parsed as avro.Schema, {
        registry: { long: BigIntLong, string: FastString },
        logicalTypes: { decimal: DecimalType },
        wrapUnions: false,
        // Every long written as an object is bigint-backed too: those with a logical type we do
        // not implement (time-micros, timestamp-micros, local-timestamp-micros) and those with
        // attributes only (Debezium's `{"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}`,
        // whose ±infinity is int64 max/min).
        typeHook: (s: unknown, opts: unknown) => {
          if (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'long') return BigIntLong;
          // Strings with attributes or a logical type walrelay does not implement (uuid) are avsc's strings too.
          if (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'string') return FastString;
          if (isNullableUnion(s)) return new NullableUnionType(s, opts);
          return undefined;
        },
      } as Partial<avro.ForSchemaOptions>);
    } catch (cause) {
      throw new DecodeError(`invalid Avro schema: ${(cause as Error).message}`, { cause });
    }
    if (typeCache.size > 10_000) typeCache.clear();
    typeCache.set(text, type);
  }
  return type;
}

/** Avro binary encoding of a value; a value that does not fit the schema is a ValueError naming the path. */
export function encodeAvro(type: avro.Type, value: unknown): Buffer {
  try {
    return type.toBuffer(value);
  } catch (cause) {
    throw invalidValue(type, value, cause);
  }
}

function invalidValue(type: avro.Type, value: unknown, cause: unknown): ValueError {
  const paths: string[] = [];
  type.isValid(value, { errorHook: (path: string[]) => paths.push(path.join('.')) });
  return new ValueError(
    `value does not match Avro schema ${type.name ?? type.typeName}${paths.length ? ` at ${paths.join(', ')}` : ''}: ${(cause as Error).message}`,
    { cause },
  );
}

/** Where framed records are encoded before their exact-size copy (grows to the largest record seen). */
const SCRATCH_INITIAL = 64 * 1024;
const SCRATCH_KEEP = 1024 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_INITIAL);

/**
 * A value in the Confluent wire format (magic byte, schema id, Avro binary) in one buffer of
 * exactly its size: encoded once into a reused scratch buffer, then copied (`encodeAvro` +
 * `frame` allocate and copy twice). Same errors as encodeAvro.
 */
export function encodeFramed(type: avro.Type, schemaId: number, value: unknown): Buffer {
  for (;;) {
    scratch[0] = MAGIC_BYTE;
    scratch.writeUInt32BE(schemaId, 1);
    let end: number;
    try {
      end = type.encode(value, scratch, 5);
    } catch (cause) {
      throw invalidValue(type, value, cause);
    }
    if (end > 0) {
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      // A very large record does not keep its scratch space for the process's life.
      if (scratch.length > SCRATCH_KEEP) scratch = Buffer.allocUnsafe(SCRATCH_INITIAL);
      return out;
    }
    // avsc returned how many bytes were missing (negative): grow and encode again.
    scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, scratch.length - end + 5));
  }
}

/**
 * `decodeAvro` of `bytes` from `start` to the end, without a Buffer view of that part (a sink
 * decodes the payload after each record's 5-byte framing: a view per key and value was a tenth
 * of its garbage). The same value, and the same errors: truncated or trailing bytes refused.
 */
export function decodeAvroAt(type: avro.Type, bytes: Buffer, start: number, resolver?: ReturnType<avro.Type['createResolver']>): unknown {
  let decoded: { value: unknown; offset: number };
  try {
    decoded = type.decode(bytes, start, resolver);
  } catch (cause) {
    throw new DecodeError(`Avro payload does not decode with schema ${type.name ?? type.typeName}: ${(cause as Error).message}`, { cause });
  }
  if (decoded.offset < 0 || decoded.offset < bytes.length) {
    throw new DecodeError(`Avro payload does not decode with schema ${type.name ?? type.typeName}: ${decoded.offset < 0 ? 'truncated buffer' : 'trailing data'}`);
  }
  return decoded.value;
}

/** Decodes `bytes` with `type`; with a resolver, bytes written with the resolver's writer type. */
export function decodeAvro(type: avro.Type, bytes: Buffer, resolver?: ReturnType<avro.Type['createResolver']>): unknown {
  try {
    return type.fromBuffer(bytes, resolver);
  } catch (cause) {
    throw new DecodeError(`Avro payload does not decode with schema ${type.name ?? type.typeName}: ${(cause as Error).message}`, { cause });
  }
}
