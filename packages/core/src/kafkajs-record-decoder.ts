import { replaceKafkajsModule } from './kafkajs-module.js';

/**
 * kafkajs 2.2.4 decodes every fetched record (`protocol/recordBatch/record/v0/decoder.js`) with
 * 64-bit `Long` arithmetic: the record's offset is `Long.fromValue(firstOffset).add(delta)
 * .toString()` (parse a decimal string, add, print), its timestamp the same, and the varlong
 * timestamp delta is read one byte at a time through `Long.add(Long.fromInt(b).shiftLeft(i))`.
 * That is ten or more `Long` objects per record: in the sinks' profile ≈4% of the CPU plus
 * their garbage (docs/performance.md, Session 11).
 *
 * This module replaces that decoder, before kafkajs loads it, with one that returns the same
 * record (same fields, same strings) using plain numbers wherever the values are exact in a
 * double (|x| ≤ 2^53 − 1: every offset and millisecond timestamp a broker writes in practice),
 * and kafkajs' own `Long` path otherwise. Only over the known kafkajs version (kafkajs-module.ts);
 * a unit test compares it with kafkajs' decoder, including offsets and timestamps past 2^53.
 */

interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): KafkaLong;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(reader: (d: KafkaDecoder) => T): T[];
}
interface KafkaLong {
  add(other: KafkaLong | number): KafkaLong;
  toString(): string;
}
interface LongStatics {
  fromValue(v: unknown): KafkaLong;
}
interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}
type Header = { key: string; value: Buffer | null };
type Headers = Record<string, Buffer | null | (Buffer | null)[]>;

const SAFE_VARLONG_BYTES = 7; // 7 × 7 = 49 bits: a zigzag value that fits is exact in a double

/**
 * A zigzag varlong read as a number when it has at most 7 bytes (|value| < 2^48), else
 * undefined with the decoder's offset left where it was (the caller reads it through kafkajs).
 */
function readSmallVarLong(decoder: KafkaDecoder): number | undefined {
  const buf = decoder.buffer;
  let pos = decoder.offset;
  let raw = 0;
  let scale = 1;
  for (let i = 0; i < SAFE_VARLONG_BYTES; i++) {
    const b = buf[pos++];
    if (b === undefined) return undefined;
    raw += (b & 0x7f) * scale;
    if (b < 0x80) {
      decoder.offset = pos;
      return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
    }
    scale *= 128;
  }
  return undefined;
}

/**
 * `base + delta` printed in decimal, exactly as kafkajs' `Long.fromValue(base).add(delta).toString()`.
 * The base (a batch's first offset or timestamp, the same string for all its records) is parsed
 * once per batch: the last one is kept.
 */
class DecimalBase {
  #text: string | undefined;
  /** The base as an exact number, or NaN when it is not one (then kafkajs' Long path). */
  #value = Number.NaN;

  readonly #Long: LongStatics;

  constructor(Long: LongStatics) {
    this.#Long = Long;
  }

  plus(base: string | undefined, delta: number | KafkaLong): string {
    if (typeof delta === 'number' && base !== undefined) {
      if (base !== this.#text) {
        const b = Number(base);
        this.#text = base;
        this.#value = Number.isSafeInteger(b) && String(b) === base ? b : Number.NaN;
      }
      const sum = this.#value + delta;
      if (Number.isSafeInteger(sum)) return String(sum);
    }
    return this.#Long.fromValue(base).add(delta).toString();
  }
}

/** kafkajs' header reduction: a key seen once maps to its value, a repeated key to the list of its values. */
function headerObject(pairs: readonly Header[]): Headers {
  const out: Headers = {};
  for (const { key, value } of pairs) {
    const seen = out[key];
    out[key] = seen === undefined ? value : Array.isArray(seen) ? seen.concat([value]) : [seen, value];
  }
  return out;
}

function makeRecordDecoder(Long: LongStatics, HeaderDecoder: (d: KafkaDecoder) => Header, LOG_APPEND_TIME: number) {
  const offsets = new DecimalBase(Long);
  const timestamps = new DecimalBase(Long);
  return (decoder: KafkaDecoder, batchContext: BatchContext = {}) => {
    const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const attributes = decoder.readInt8();
    const timestampDelta = readSmallVarLong(decoder) ?? decoder.readVarLong();
    const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : timestamps.plus(firstTimestamp, timestampDelta);
    const offsetDelta = decoder.readVarInt();
    const offset = offsets.plus(firstOffset, offsetDelta);
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const headers = headerObject(decoder.readVarIntArray(HeaderDecoder));
    return {
      magicByte,
      attributes,
      timestamp,
      offset,
      key,
      value,
      headers,
      isControlRecord: isControlBatch,
      batchContext,
    };
  };
}

function install(): boolean {
  return replaceKafkajsModule('kafkajs/src/protocol/recordBatch/record/v0/decoder.js', (_original, require) => {
    const Long = require('kafkajs/src/utils/long.js') as LongStatics;
    const HeaderDecoder = require('kafkajs/src/protocol/recordBatch/header/v0/decoder.js') as (d: KafkaDecoder) => Header;
    const { LOG_APPEND_TIME } = require('kafkajs/src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number };
    return makeRecordDecoder(Long, HeaderDecoder, LOG_APPEND_TIME);
  });
}

/** Whether kafkajs decodes fetched records through the decoder above (false: kafkajs was loaded first, or another version). */
export const kafkaRecordDecoderPatched = install();
