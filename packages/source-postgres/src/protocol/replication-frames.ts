/**
 * The CopyData payloads of the PostgreSQL streaming replication protocol
 * (START_REPLICATION ... LOGICAL): XLogData 'w' and Primary keepalive 'k' from the
 * server, Standby status update 'r' from the client.
 */
import { DecodeError } from '@walrelay/core';
import { ByteReader, asBuffer, tagName } from './reader.js';

export type ReplicationFrame =
  | { kind: 'xlogdata'; walStart: bigint; walEnd: bigint; sendTimeMicros: bigint; data: Buffer }
  | { kind: 'keepalive'; walEnd: bigint; sendTimeMicros: bigint; replyRequested: boolean };

const TAG_XLOGDATA = 0x77; // 'w'
const TAG_KEEPALIVE = 0x6b; // 'k'
const TAG_STANDBY_STATUS = 0x72; // 'r'

const XLOGDATA_HEADER = 1 + 8 + 8 + 8;
const LABEL_XLOGDATA = "replication XLogData (tag 'w')";
const LABEL_KEEPALIVE = "replication Primary keepalive (tag 'k')";

/** 2000-01-01T00:00:00Z in Unix milliseconds. */
const PG_EPOCH_UNIX_MS = 946_684_800_000;
const PG_EPOCH_UNIX_MICROS = 946_684_800_000_000n;

const reader = new ByteReader();

/**
 * Decode one CopyData payload received during logical replication.
 * `data` of an XLogData frame is a view into `buf` (not copied): decode it before the
 * buffer is reused. Throws only DecodeError.
 */
export function decodeReplicationFrame(input: Buffer): ReplicationFrame {
  const buf = asBuffer(input, 'replication frame');
  if (buf.length === 0) {
    throw new DecodeError('replication frame: empty CopyData payload at offset 0', { details: { offset: 0, length: 0 } });
  }
  const tag = buf[0]!;
  const r = reader;
  try {
    if (tag === TAG_XLOGDATA) {
      r.reset(buf, LABEL_XLOGDATA, 1);
      const walStart = r.u64('WAL start LSN');
      const walEnd = r.u64('WAL end LSN');
      const sendTimeMicros = r.i64('send time');
      return { kind: 'xlogdata', walStart, walEnd, sendTimeMicros, data: buf.subarray(XLOGDATA_HEADER) };
    }
    if (tag === TAG_KEEPALIVE) {
      r.reset(buf, LABEL_KEEPALIVE, 1);
      const walEnd = r.u64('WAL end LSN');
      const sendTimeMicros = r.i64('send time');
      const replyRequested = r.u8('reply-requested flag') !== 0;
      r.finish();
      return { kind: 'keepalive', walEnd, sendTimeMicros, replyRequested };
    }
    throw new DecodeError(
      `replication frame: unknown CopyData message tag ${tagName(tag)} (0x${tag.toString(16).padStart(2, '0')}) at offset 0` +
        ` (expected 'w' XLogData or 'k' keepalive)`,
      { details: { tag, offset: 0, length: buf.length } },
    );
  } catch (error) {
    throw r.wrap(error);
  } finally {
    r.release();
  }
}

/**
 * Standby status update 'r': Byte1('r'), Int64 write LSN, Int64 flush LSN, Int64 apply LSN,
 * Int64 client clock (microseconds since 2000-01-01), Byte1 reply-requested. 34 bytes.
 */
export function encodeStandbyStatus(
  write: bigint,
  flush: bigint,
  apply: bigint,
  clockMicros: bigint,
  replyRequested = false,
): Buffer {
  const out = Buffer.allocUnsafe(34);
  out[0] = TAG_STANDBY_STATUS;
  out.writeBigUInt64BE(write, 1);
  out.writeBigUInt64BE(flush, 9);
  out.writeBigUInt64BE(apply, 17);
  out.writeBigInt64BE(clockMicros, 25);
  out[33] = replyRequested ? 1 : 0;
  return out;
}

/** Now (or `dateMs`, Unix milliseconds) as microseconds since 2000-01-01, the PostgreSQL epoch. */
export function pgEpochMicros(dateMs: number = Date.now()): bigint {
  if (!Number.isFinite(dateMs)) throw new RangeError(`pgEpochMicros: not a finite time: ${dateMs}`);
  return BigInt(Math.round(dateMs * 1000)) - PG_EPOCH_UNIX_MICROS;
}

/** Microseconds since the PostgreSQL epoch to Unix milliseconds (floored to a whole millisecond). */
export function pgMicrosToUnixMs(micros: bigint): number {
  return Math.floor(Number(micros) / 1000) + PG_EPOCH_UNIX_MS;
}
