import { crc32c } from '@walrelay/crc32c';
import { encoderHolding, replaceKafkajsModule } from './kafkajs-module.js';
import { kafkaRequestFramingPatched, REQUEST_HEADROOM, type FramedBody } from './kafkajs-request-framing.js';
import { produceRequestBuffers } from './produce-request-buffers.js';

/**
 * kafkajs 2.2.4 encodes a produce request through a chain of growing encoders: every record
 * gets its own zero-filled 512-byte buffer, every varint a `Buffer.from([...])`, every varlong
 * a few 64-bit `Long` objects, and the request is copied from encoder to encoder five times;
 * its CRC32C reads one byte at a time. In the source's profile that was ≈17% of the CPU and a
 * large part of its garbage (docs/performance.md).
 *
 * This module replaces kafkajs' produce request v3 (which v4–v7 reuse) with one that writes
 * the same bytes into one buffer sized beforehand (a view of a buffer an earlier request's socket
 * has written, produce-request-buffers.ts), with the CPU's CRC32C (`@walrelay/crc32c`).
 * It takes only the requests walrelay sends (no per-message timestamps, keys, values and headers
 * of Buffers or strings; uncompressed, or compressed by a codec in kafkajs' codec table, the same
 * one kafkajs' encoder would call); any other goes to kafkajs' own encoder. A unit test compares
 * the two byte for byte. Like the grouping fix, it must be installed before kafkajs loads
 * (kafka-client.ts imports it first) and only over the known kafkajs version.
 */

type Bytes = Buffer | string | null | undefined;
interface ProduceMessage {
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
  timestamp?: unknown;
}
interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}
interface KafkaLong {
  getHighBits(): number;
  getLowBits(): number;
}
interface EncoderLike {
  buf: Buffer;
  offset: number;
}

/** Zigzag varint size of a 32-bit value (kafkajs' writeVarInt). */
function varIntSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

function writeVarInt(buf: Buffer, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

function byteSize(v: Bytes): number {
  return v === null || v === undefined ? -1 : Buffer.isBuffer(v) ? v.length : Buffer.byteLength(String(v), 'utf8');
}

function writeBytes(buf: Buffer, pos: number, v: Bytes, size: number): number {
  pos = writeVarInt(buf, pos, size);
  if (size < 0) return pos;
  if (Buffer.isBuffer(v)) {
    v.copy(buf, pos);
    return pos + size;
  }
  return pos + buf.write(String(v), pos, size, 'utf8');
}

/** The header pairs in kafkajs' order (an array value is one header per element). */
const NO_HEADERS: readonly [string, Bytes][] = [];

function headerPairs(headers: ProduceMessage['headers']): readonly [string, Bytes][] {
  if (!headers) return NO_HEADERS;
  const out: [string, Bytes][] = [];
  for (const key of Object.keys(headers)) {
    const v = headers[key];
    if (Array.isArray(v)) for (const x of v) out.push([key, x]);
    else out.push([key, v]);
  }
  return out;
}

/** Kafka's codec bits in a record batch's attributes, and kafkajs' codec interface. */
const COMPRESSION_CODEC_MASK = 0x07;
interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
}
/** Whether this request is one the fast encoder writes exactly as kafkajs would. */
function supported(args: ProduceArgs): boolean {
  for (const t of args.topicData) {
    for (const p of t.partitions) {
      for (const m of p.messages) {
        if (m.timestamp !== undefined && m.timestamp !== null) return false;
        if (m.headers !== undefined && (typeof m.headers !== 'object' || m.headers === null)) return false;
      }
    }
  }
  return true;
}

/** Every record's body size, in the request's order. */
function recordBodySizes(args: ProduceArgs): number[] {
  const sizes: number[] = [];
  for (const t of args.topicData) {
    for (const p of t.partitions) {
      p.messages.forEach((m, i) => {
        let body = 1 + 1 + varIntSize(i); // attributes, timestampDelta 0 (1 byte), offsetDelta
        const k = byteSize(m.key);
        const v = byteSize(m.value);
        body += varIntSize(k) + Math.max(0, k) + varIntSize(v) + Math.max(0, v);
        const hs = headerPairs(m.headers);
        body += varIntSize(hs.length);
        for (const [hk, hv] of hs) {
          const ks = Buffer.byteLength(hk, 'utf8');
          const vs = byteSize(hv);
          body += varIntSize(ks) + ks + varIntSize(vs) + Math.max(0, vs);
        }
        sizes.push(body);
      });
    }
  }
  return sizes;
}

/** Writes one partition's records (length-prefixed, as kafkajs' record encoder) from `sizes[r]` on; returns the end. */
function writeRecords(buf: Buffer, pos: number, messages: readonly ProduceMessage[], sizes: readonly number[], r: number): number {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    pos = writeVarInt(buf, pos, sizes[r + i]!);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestampDelta: every record is stamped `now`
    pos = writeVarInt(buf, pos, i);
    pos = writeBytes(buf, pos, m.key, byteSize(m.key));
    pos = writeBytes(buf, pos, m.value, byteSize(m.value));
    const hs = headerPairs(m.headers);
    pos = writeVarInt(buf, pos, hs.length);
    for (const [hk, hv] of hs) {
      pos = writeBytes(buf, pos, hk, Buffer.byteLength(hk, 'utf8'));
      pos = writeBytes(buf, pos, hv, byteSize(hv));
    }
  }
  return pos;
}

function recordsBytes(sizes: readonly number[], from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) n += varIntSize(sizes[i]!) + sizes[i]!;
  return n;
}

/**
 * The request body (after kafkajs' request header), byte for byte as kafkajs' v3 encoder writes
 * it. With `headroom`, the buffer starts with that many unwritten bytes before the body, for the
 * request's frame (kafkajs-request-framing.ts): the body is then `buf.subarray(headroom)`.
 * `compressed` holds the codec id (the attributes' low three bits) and each partition's compressed
 * records, in the request's order (compressed requests).
 */
export function encodeProduceBody(args: ProduceArgs, now: number, longOf: (v: unknown) => KafkaLong, headroom = 0, compressed?: { codec: number; records: readonly Buffer[] }): Buffer {
  const transactional = args.transactionalId !== null && args.transactionalId !== undefined && args.transactionalId !== '';
  const producerId = longOf(args.producerId ?? -1);
  const producerEpoch = args.producerEpoch ?? 0;
  const codec = compressed?.codec ?? 0;
  // First pass: every record's body size, and the whole request's size.
  const recordSizes = compressed === undefined ? recordBodySizes(args) : [];
  let total = 2 + (args.transactionalId === null || args.transactionalId === undefined ? 0 : Buffer.byteLength(args.transactionalId, 'utf8')) + 2 + 4 + 4;
  let r = 0;
  let c = 0;
  for (const t of args.topicData) {
    total += 2 + Buffer.byteLength(t.topic, 'utf8') + 4;
    for (const p of t.partitions) {
      // partition, record set size, firstOffset, batch length, epoch, magic, crc, batch header (36), record count
      total += 4 + 4 + 8 + 4 + 4 + 1 + 4 + 36 + 4;
      if (compressed === undefined) {
        total += recordsBytes(recordSizes, r, p.messages.length);
        r += p.messages.length;
      } else {
        const records = compressed.records[c++];
        if (records === undefined) throw new Error('produce request encoder: fewer compressed partitions than partitions');
        total += records.length;
      }
    }
  }
  // A buffer the socket gives back once it wrote the request (produce-request-buffers.ts).
  const buf = produceRequestBuffers.lease(headroom + total);
  let pos = headroom;
  if (args.transactionalId === null || args.transactionalId === undefined) pos = buf.writeInt16BE(-1, pos);
  else {
    const len = Buffer.byteLength(args.transactionalId, 'utf8');
    pos = buf.writeInt16BE(len, pos);
    pos += buf.write(args.transactionalId, pos, len, 'utf8');
  }
  pos = buf.writeInt16BE(args.acks, pos);
  pos = buf.writeInt32BE(args.timeout, pos);
  pos = buf.writeInt32BE(args.topicData.length, pos);
  r = 0;
  c = 0;
  for (const t of args.topicData) {
    const tl = Buffer.byteLength(t.topic, 'utf8');
    pos = buf.writeInt16BE(tl, pos);
    pos += buf.write(t.topic, pos, tl, 'utf8');
    pos = buf.writeInt32BE(t.partitions.length, pos);
    for (const p of t.partitions) {
      pos = buf.writeInt32BE(p.partition, pos);
      const recordSetSizeAt = pos;
      pos += 4;
      const batchStart = pos;
      pos = buf.writeInt32BE(0, pos); // firstOffset (int64 0)
      pos = buf.writeInt32BE(0, pos);
      const lengthAt = pos;
      pos += 4;
      pos = buf.writeInt32BE(0, pos); // partitionLeaderEpoch
      pos = buf.writeInt8(2, pos); // magic
      const crcAt = pos;
      pos += 4;
      const bodyStart = pos;
      pos = buf.writeInt16BE(codec | (transactional ? 16 : 0), pos); // attributes
      pos = buf.writeInt32BE(p.messages.length - 1, pos); // lastOffsetDelta
      const ts = longOf(now);
      pos = buf.writeInt32BE(ts.getHighBits(), pos); // firstTimestamp
      pos = buf.writeInt32BE(ts.getLowBits(), pos);
      pos = buf.writeInt32BE(ts.getHighBits(), pos); // maxTimestamp
      pos = buf.writeInt32BE(ts.getLowBits(), pos);
      pos = buf.writeInt32BE(producerId.getHighBits(), pos);
      pos = buf.writeInt32BE(producerId.getLowBits(), pos);
      pos = buf.writeInt16BE(producerEpoch, pos);
      pos = buf.writeInt32BE(p.firstSequence ?? 0, pos);
      pos = buf.writeInt32BE(p.messages.length, pos);
      if (compressed === undefined) {
        pos = writeRecords(buf, pos, p.messages, recordSizes, r);
        r += p.messages.length;
      } else {
        const records = compressed.records[c++]!;
        pos += records.copy(buf, pos);
      }
      buf.writeUInt32BE(crc32c(buf, bodyStart, pos), crcAt);
      buf.writeInt32BE(pos - lengthAt - 4, lengthAt);
      buf.writeInt32BE(pos - batchStart, recordSetSizeAt);
    }
  }
  if (pos !== headroom + total) throw new Error(`produce request encoder: wrote ${pos - headroom} bytes, sized ${total}`);
  return buf;
}

/**
 * Each partition's records compressed with `compress`, in the request's order: the records
 * written exactly as uncompressed (what kafkajs hands its codec), compressed concurrently (node's
 * codecs run on libuv's thread pool).
 */
export async function compressPartitions(args: ProduceArgs, compress: (records: Buffer) => Promise<Buffer>): Promise<Buffer[]> {
  const sizes = recordBodySizes(args);
  const pending: Promise<Buffer>[] = [];
  let r = 0;
  for (const t of args.topicData) {
    for (const p of t.partitions) {
      const records = Buffer.allocUnsafe(recordsBytes(sizes, r, p.messages.length));
      const end = writeRecords(records, 0, p.messages, sizes, r);
      if (end !== records.length) throw new Error(`produce request encoder: wrote ${end} record bytes, sized ${records.length}`);
      r += p.messages.length;
      pending.push(compress(records));
    }
  }
  return Promise.all(pending);
}

type RequestFactory = (args: ProduceArgs) => { encode: () => Promise<EncoderLike> } & Record<string, unknown>;

function install(): boolean {
  // Room in front of each body for the request's frame, when kafkajs frames requests through
  // kafkajs-request-framing.ts (installed first); otherwise none.
  const headroom = kafkaRequestFramingPatched ? REQUEST_HEADROOM : 0;
  return replaceKafkajsModule('kafkajs/src/protocol/requests/produce/v3/request.js', (own, require) => {
    // kafkajs' own encoder (loaded now, before kafkajs uses it) serves every request the fast one does not take.
    const original = own as RequestFactory;
    const Encoder = require('kafkajs/src/protocol/encoder.js') as new (size?: number) => EncoderLike & Partial<FramedBody>;
    const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): KafkaLong };
    const longOf = (v: unknown): KafkaLong => Long.fromValue(v);
    const { lookupCodec } = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodec(type: number): KafkaCodec | null };
    const fast: RequestFactory = (args) => {
      const request = original(args);
      if (!supported(args)) return request;
      const codecId = (args.compression ?? 0) & COMPRESSION_CODEC_MASK;
      return {
        ...request,
        encode: async () => {
          let compressed: { codec: number; records: Buffer[] } | undefined;
          if (codecId !== 0) {
            // kafkajs' codec table (gzip, or what was registered: kafka-compression.ts), as kafkajs' encoder uses it.
            const codec = lookupCodec(codecId);
            if (!codec) return request.encode();
            compressed = { codec: codecId, records: await compressPartitions(args, (records) => codec.compress({ buffer: records })) };
          }
          const whole = encodeProduceBody(args, Date.now(), longOf, headroom, compressed);
          // `buf` is the body alone (what kafkajs' encoder holds); the frame goes into the headroom.
          const encoder = encoderHolding(Encoder, whole.subarray(headroom));
          return headroom > 0 ? Object.assign(encoder, { walrelayFrame: { whole, bodyStart: headroom } }) : encoder;
        },
      };
    };
    return fast;
  });
}

/** Whether kafkajs' produce requests are encoded by the function above (false: kafkajs was loaded first, or another version). */
export const kafkaProduceEncoderPatched = install();
