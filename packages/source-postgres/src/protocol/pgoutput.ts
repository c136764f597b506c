/**
 * Decoder for the messages of PostgreSQL's built-in logical decoding output plugin,
 * pgoutput ("Logical Replication Message Formats"), protocol versions 1 to 4.
 *
 *   v1: Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate, Message
 *   v2: + Stream Start/Stop/Commit/Abort; inside Stream Start..Stop, Relation, Type,
 *       Insert, Update, Delete, Truncate and Message carry the xid after the tag
 *   v3: + Begin Prepare, Prepare, Commit Prepared, Rollback Prepared, Stream Prepare
 *   v4: + Stream Abort may carry abort LSN and abort time (streaming = parallel)
 *
 * Pure: bytes in, plain objects out; the only state is "inside a stream block".
 * Throws only DecodeError, whose message names the message type and the byte offset.
 */
import { DecodeError } from '@walrelay/core';
import { ByteReader, asBuffer, tagName } from './reader.js';

export type TupleValue =
  | { kind: 'null' }
  | { kind: 'unchanged' }
  | { kind: 'text'; value: string }
  | { kind: 'binary'; value: Buffer /* copied */ };

export interface RelationColumn {
  flags: number;
  isKey: boolean;
  name: string;
  typeOid: number;
  typmod: number;
}

export type PgOutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTimeMicros: bigint; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeMicros: bigint }
  | { tag: 'origin'; originLsn: bigint; name: string }
  | {
      tag: 'relation';
      xid?: number;
      relationOid: number;
      namespace: string;
      name: string;
      replicaIdentity: 'd' | 'n' | 'f' | 'i';
      columns: RelationColumn[];
    }
  | { tag: 'type'; xid?: number; typeOid: number; namespace: string; name: string }
  | { tag: 'insert'; xid?: number; relationOid: number; newTuple: TupleValue[] }
  | { tag: 'update'; xid?: number; relationOid: number; oldKind?: 'key' | 'old'; oldTuple?: TupleValue[]; newTuple: TupleValue[] }
  | { tag: 'delete'; xid?: number; relationOid: number; oldKind: 'key' | 'old'; oldTuple: TupleValue[] }
  | { tag: 'truncate'; xid?: number; cascade: boolean; restartIdentity: boolean; relationOids: number[] }
  | { tag: 'message'; xid?: number; transactional: boolean; lsn: bigint; prefix: string; content: Buffer /* copied */ }
  | { tag: 'stream_start'; xid: number; firstSegment: boolean }
  | { tag: 'stream_stop' }
  | { tag: 'stream_commit'; xid: number; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeMicros: bigint }
  | { tag: 'stream_abort'; xid: number; subXid: number; abortLsn?: bigint; abortTimeMicros?: bigint }
  | { tag: 'begin_prepare'; prepareLsn: bigint; endLsn: bigint; prepareTimeMicros: bigint; xid: number; gid: string }
  | { tag: 'prepare'; flags: number; prepareLsn: bigint; endLsn: bigint; prepareTimeMicros: bigint; xid: number; gid: string }
  | { tag: 'commit_prepared'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeMicros: bigint; xid: number; gid: string }
  | {
      tag: 'rollback_prepared';
      flags: number;
      prepareEndLsn: bigint;
      rollbackEndLsn: bigint;
      prepareTimeMicros: bigint;
      rollbackTimeMicros: bigint;
      xid: number;
      gid: string;
    }
  | { tag: 'stream_prepare'; flags: number; prepareLsn: bigint; endLsn: bigint; prepareTimeMicros: bigint; xid: number; gid: string };

const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' } as const);
const UNCHANGED_VALUE: TupleValue = Object.freeze({ kind: 'unchanged' } as const);

const enum Tag {
  Begin = 0x42, // 'B'
  Message = 0x4d, // 'M'
  Commit = 0x43, // 'C'
  Origin = 0x4f, // 'O'
  Relation = 0x52, // 'R'
  Type = 0x59, // 'Y'
  Insert = 0x49, // 'I'
  Update = 0x55, // 'U'
  Delete = 0x44, // 'D'
  Truncate = 0x54, // 'T'
  StreamStart = 0x53, // 'S'
  StreamStop = 0x45, // 'E'
  StreamCommit = 0x63, // 'c'
  StreamAbort = 0x41, // 'A'
  BeginPrepare = 0x62, // 'b'
  Prepare = 0x50, // 'P'
  CommitPrepared = 0x4b, // 'K'
  RollbackPrepared = 0x72, // 'r'
  StreamPrepare = 0x70, // 'p'
}

const TUPLE_NULL = 0x6e; // 'n'
const TUPLE_UNCHANGED = 0x75; // 'u'
const TUPLE_TEXT = 0x74; // 't'
const TUPLE_BINARY = 0x62; // 'b'
const TUPLE_NEW = 0x4e; // 'N'
const TUPLE_KEY = 0x4b; // 'K'
const TUPLE_OLD = 0x4f; // 'O'

/** Message name per tag byte, and the protocol version that introduced it. */
const NAMES: ReadonlyArray<readonly [Tag, string, number]> = [
  [Tag.Begin, 'Begin', 1],
  [Tag.Message, 'Message', 1],
  [Tag.Commit, 'Commit', 1],
  [Tag.Origin, 'Origin', 1],
  [Tag.Relation, 'Relation', 1],
  [Tag.Type, 'Type', 1],
  [Tag.Insert, 'Insert', 1],
  [Tag.Update, 'Update', 1],
  [Tag.Delete, 'Delete', 1],
  [Tag.Truncate, 'Truncate', 1],
  [Tag.StreamStart, 'Stream Start', 2],
  [Tag.StreamStop, 'Stream Stop', 2],
  [Tag.StreamCommit, 'Stream Commit', 2],
  [Tag.StreamAbort, 'Stream Abort', 2],
  [Tag.BeginPrepare, 'Begin Prepare', 3],
  [Tag.Prepare, 'Prepare', 3],
  [Tag.CommitPrepared, 'Commit Prepared', 3],
  [Tag.RollbackPrepared, 'Rollback Prepared', 3],
  [Tag.StreamPrepare, 'Stream Prepare', 3],
];
const LABELS: Array<string | undefined> = new Array<string | undefined>(256).fill(undefined);
const MIN_VERSION = new Uint8Array(256);
for (const [tag, name, version] of NAMES) {
  LABELS[tag] = `pgoutput ${name} (tag ${tagName(tag)})`;
  MIN_VERSION[tag] = version;
}

export const PGOUTPUT_MIN_PROTOCOL_VERSION = 1;
export const PGOUTPUT_MAX_PROTOCOL_VERSION = 4;

/** Stateful only in what the protocol makes stateful: inside Stream Start..Stream Stop, messages carry an xid. */
export class PgOutputDecoder {
  readonly protocolVersion: number;
  private streaming = false;
  private readonly r = new ByteReader();

  constructor(options: { protocolVersion: number /* 1..4 */ }) {
    const v = options.protocolVersion;
    if (!Number.isInteger(v) || v < PGOUTPUT_MIN_PROTOCOL_VERSION || v > PGOUTPUT_MAX_PROTOCOL_VERSION) {
      throw new RangeError(`pgoutput protocol version must be an integer from 1 to 4, got ${String(v)}`);
    }
    this.protocolVersion = v;
  }

  /** True between a Stream Start and its Stream Stop. */
  get inStream(): boolean {
    return this.streaming;
  }

  /** Decode one pgoutput message (the `data` of an XLogData frame, or a row of pg_logical_slot_get_binary_changes). Throws only DecodeError. */
  decode(input: Buffer): PgOutputMessage {
    const buf = asBuffer(input, 'pgoutput');
    if (buf.length === 0) {
      throw new DecodeError('pgoutput: empty message at offset 0', { details: { offset: 0, length: 0 } });
    }
    const tag = buf[0]!;
    const label = LABELS[tag];
    if (label === undefined) {
      throw new DecodeError(`pgoutput: unknown message tag ${tagName(tag)} (0x${tag.toString(16).padStart(2, '0')}) at offset 0`, {
        details: { tag, offset: 0, length: buf.length },
      });
    }
    const r = this.r;
    r.reset(buf, label, 1);
    try {
      if (MIN_VERSION[tag]! > this.protocolVersion) {
        r.fail(`message needs protocol version ${MIN_VERSION[tag]} but the decoder is configured for version ${this.protocolVersion}`, 0);
      }
      const message = this.decodeBody(r, tag as Tag);
      r.finish();
      // State changes only after the whole message decoded.
      if (tag === Tag.StreamStart) this.streaming = true;
      else if (tag === Tag.StreamStop) this.streaming = false;
      return message;
    } catch (error) {
      throw r.wrap(error);
    } finally {
      r.release();
    }
  }

  private decodeBody(r: ByteReader, tag: Tag): PgOutputMessage {
    switch (tag) {
      case Tag.Begin: {
        const finalLsn = r.u64('final LSN');
        const commitTimeMicros = r.i64('commit timestamp');
        const xid = r.u32('xid');
        return { tag: 'begin', finalLsn, commitTimeMicros, xid };
      }
      case Tag.Commit: {
        const flags = r.u8('flags');
        const commitLsn = r.u64('commit LSN');
        const endLsn = r.u64('end LSN');
        const commitTimeMicros = r.i64('commit timestamp');
        return { tag: 'commit', flags, commitLsn, endLsn, commitTimeMicros };
      }
      case Tag.Origin: {
        const originLsn = r.u64('origin LSN');
        const name = r.cstring('origin name');
        return { tag: 'origin', originLsn, name };
      }
      case Tag.Relation: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const relationOid = r.u32('relation OID');
        const namespace = r.cstring('namespace');
        const name = r.cstring('relation name');
        const identityAt = r.pos;
        const identity = r.u8('replica identity');
        if (identity !== 0x64 && identity !== 0x6e && identity !== 0x66 && identity !== 0x69) {
          r.fail(`replica identity ${tagName(identity)} is not one of 'd', 'n', 'f', 'i'`, identityAt);
        }
        const countAt = r.pos;
        const count = r.u16('column count');
        // Each column takes at least 10 bytes (flags, NUL, type OID, typmod).
        if (count * 10 > r.remaining) {
          r.fail(`column count ${count} cannot fit in the remaining ${r.remaining} bytes of the ${r.buf.length}-byte message`, countAt);
        }
        const columns: RelationColumn[] = new Array<RelationColumn>(count);
        for (let i = 0; i < count; i++) {
          const flags = r.u8('column flags');
          const colName = r.cstring('column name');
          const typeOid = r.u32('column type OID');
          const typmod = r.i32('column type modifier');
          columns[i] = { flags, isKey: (flags & 1) !== 0, name: colName, typeOid, typmod };
        }
        const replicaIdentity = String.fromCharCode(identity) as 'd' | 'n' | 'f' | 'i';
        return xid === undefined
          ? { tag: 'relation', relationOid, namespace, name, replicaIdentity, columns }
          : { tag: 'relation', xid, relationOid, namespace, name, replicaIdentity, columns };
      }
      case Tag.Type: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const typeOid = r.u32('type OID');
        const namespace = r.cstring('namespace');
        const name = r.cstring('type name');
        return xid === undefined ? { tag: 'type', typeOid, namespace, name } : { tag: 'type', xid, typeOid, namespace, name };
      }
      case Tag.Insert: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const relationOid = r.u32('relation OID');
        const markerAt = r.pos;
        const marker = r.u8('tuple marker');
        if (marker !== TUPLE_NEW) r.fail(`expected new tuple marker 'N', got ${tagName(marker)}`, markerAt);
        const newTuple = readTuple(r, 'new tuple');
        return xid === undefined ? { tag: 'insert', relationOid, newTuple } : { tag: 'insert', xid, relationOid, newTuple };
      }
      case Tag.Update: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const relationOid = r.u32('relation OID');
        let markerAt = r.pos;
        let marker = r.u8('tuple marker');
        let oldKind: 'key' | 'old' | undefined;
        let oldTuple: TupleValue[] | undefined;
        if (marker === TUPLE_KEY || marker === TUPLE_OLD) {
          oldKind = marker === TUPLE_KEY ? 'key' : 'old';
          oldTuple = readTuple(r, marker === TUPLE_KEY ? 'key tuple' : 'old tuple');
          markerAt = r.pos;
          marker = r.u8('new tuple marker');
        }
        if (marker !== TUPLE_NEW) {
          r.fail(`expected tuple marker ${oldKind === undefined ? "'K', 'O' or 'N'" : "'N'"}, got ${tagName(marker)}`, markerAt);
        }
        const newTuple = readTuple(r, 'new tuple');
        const msg: PgOutputMessage = { tag: 'update', relationOid, newTuple };
        if (xid !== undefined) msg.xid = xid;
        if (oldKind !== undefined) {
          msg.oldKind = oldKind;
          msg.oldTuple = oldTuple;
        }
        return msg;
      }
      case Tag.Delete: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const relationOid = r.u32('relation OID');
        const markerAt = r.pos;
        const marker = r.u8('tuple marker');
        if (marker !== TUPLE_KEY && marker !== TUPLE_OLD) r.fail(`expected tuple marker 'K' or 'O', got ${tagName(marker)}`, markerAt);
        const oldKind = marker === TUPLE_KEY ? 'key' : 'old';
        const oldTuple = readTuple(r, marker === TUPLE_KEY ? 'key tuple' : 'old tuple');
        return xid === undefined
          ? { tag: 'delete', relationOid, oldKind, oldTuple }
          : { tag: 'delete', xid, relationOid, oldKind, oldTuple };
      }
      case Tag.Truncate: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const countAt = r.pos;
        const count = r.u32('relation count');
        const options = r.u8('options');
        if (count * 4 > r.remaining) {
          r.fail(`relation count ${count} needs ${count * 4} bytes but only ${r.remaining} remain in the ${r.buf.length}-byte message`, countAt);
        }
        const relationOids: number[] = new Array<number>(count);
        for (let i = 0; i < count; i++) relationOids[i] = r.u32('relation OID');
        const cascade = (options & 1) !== 0;
        const restartIdentity = (options & 2) !== 0;
        return xid === undefined
          ? { tag: 'truncate', cascade, restartIdentity, relationOids }
          : { tag: 'truncate', xid, cascade, restartIdentity, relationOids };
      }
      case Tag.Message: {
        const xid = this.streaming ? r.u32('xid') : undefined;
        const flags = r.u8('flags');
        const lsn = r.u64('message LSN');
        const prefix = r.cstring('prefix');
        const n = r.length('content length');
        const content = Buffer.from(r.buf.subarray(r.pos, r.pos + n)); // copied: the caller's buffer may be reused
        r.pos += n;
        const transactional = (flags & 1) !== 0;
        return xid === undefined
          ? { tag: 'message', transactional, lsn, prefix, content }
          : { tag: 'message', xid, transactional, lsn, prefix, content };
      }
      case Tag.StreamStart: {
        if (this.streaming) r.fail('Stream Start while already inside a stream (no Stream Stop since the last Stream Start)', 0);
        const xid = r.u32('xid');
        const firstSegment = r.u8('first-segment flag') !== 0;
        return { tag: 'stream_start', xid, firstSegment };
      }
      case Tag.StreamStop: {
        if (!this.streaming) r.fail('Stream Stop without a preceding Stream Start', 0);
        return { tag: 'stream_stop' };
      }
      case Tag.StreamCommit: {
        const xid = r.u32('xid');
        const flags = r.u8('flags');
        const commitLsn = r.u64('commit LSN');
        const endLsn = r.u64('end LSN');
        const commitTimeMicros = r.i64('commit timestamp');
        return { tag: 'stream_commit', xid, flags, commitLsn, endLsn, commitTimeMicros };
      }
      case Tag.StreamAbort: {
        const xid = r.u32('xid');
        const subXid = r.u32('subtransaction xid');
        // Version 4 sends abort LSN and time only when streaming = parallel: the length tells.
        if (this.protocolVersion >= 4 && r.remaining > 0) {
          const abortLsn = r.u64('abort LSN');
          const abortTimeMicros = r.i64('abort timestamp');
          return { tag: 'stream_abort', xid, subXid, abortLsn, abortTimeMicros };
        }
        return { tag: 'stream_abort', xid, subXid };
      }
      case Tag.BeginPrepare: {
        const prepareLsn = r.u64('prepare LSN');
        const endLsn = r.u64('end LSN');
        const prepareTimeMicros = r.i64('prepare timestamp');
        const xid = r.u32('xid');
        const gid = r.cstring('gid');
        return { tag: 'begin_prepare', prepareLsn, endLsn, prepareTimeMicros, xid, gid };
      }
      case Tag.Prepare:
      case Tag.StreamPrepare: {
        const flags = r.u8('flags');
        const prepareLsn = r.u64('prepare LSN');
        const endLsn = r.u64('end LSN');
        const prepareTimeMicros = r.i64('prepare timestamp');
        const xid = r.u32('xid');
        const gid = r.cstring('gid');
        return { tag: tag === Tag.Prepare ? 'prepare' : 'stream_prepare', flags, prepareLsn, endLsn, prepareTimeMicros, xid, gid };
      }
      case Tag.CommitPrepared: {
        const flags = r.u8('flags');
        const commitLsn = r.u64('commit LSN');
        const endLsn = r.u64('end LSN');
        const commitTimeMicros = r.i64('commit timestamp');
        const xid = r.u32('xid');
        const gid = r.cstring('gid');
        return { tag: 'commit_prepared', flags, commitLsn, endLsn, commitTimeMicros, xid, gid };
      }
      case Tag.RollbackPrepared: {
        const flags = r.u8('flags');
        const prepareEndLsn = r.u64('prepare end LSN');
        const rollbackEndLsn = r.u64('rollback end LSN');
        const prepareTimeMicros = r.i64('prepare timestamp');
        const rollbackTimeMicros = r.i64('rollback timestamp');
        const xid = r.u32('xid');
        const gid = r.cstring('gid');
        return { tag: 'rollback_prepared', flags, prepareEndLsn, rollbackEndLsn, prepareTimeMicros, rollbackTimeMicros, xid, gid };
      }
    }
  }
}

/** TupleData: Int16 column count, then per column 'n' | 'u' | 't' Int32 len bytes | 'b' Int32 len bytes. */
function readTuple(r: ByteReader, which: string): TupleValue[] {
  const countAt = r.pos;
  const count = r.u16(`${which} column count`);
  // Each column takes at least one byte.
  if (count > r.remaining) {
    r.fail(`${which} column count ${count} cannot fit in the remaining ${r.remaining} bytes of the ${r.buf.length}-byte message`, countAt);
  }
  const buf = r.buf;
  const values: TupleValue[] = new Array<TupleValue>(count);
  for (let i = 0; i < count; i++) {
    const kindAt = r.pos;
    if (kindAt >= buf.length) r.fail(`${which} column ${i} kind byte runs past the end of the ${buf.length}-byte message`);
    const kind = buf[r.pos++]!;
    switch (kind) {
      case TUPLE_NULL:
        values[i] = NULL_VALUE;
        break;
      case TUPLE_UNCHANGED:
        values[i] = UNCHANGED_VALUE;
        break;
      case TUPLE_TEXT:
      case TUPLE_BINARY: {
        const lenAt = r.pos;
        if (buf.length - lenAt < 4) {
          r.fail(`${which} column ${i} ${kind === TUPLE_TEXT ? 'text' : 'binary'} length (4 bytes) runs past the end of the ${buf.length}-byte message`);
        }
        const len = buf.readInt32BE(lenAt);
        const start = lenAt + 4;
        if (len < 0 || len > buf.length - start) {
          r.fail(
            `${which} column ${i} ${kind === TUPLE_TEXT ? 'text' : 'binary'} length ${len} ` +
              (len < 0 ? 'is negative' : `runs past the end of the ${buf.length}-byte message`),
            lenAt,
          );
        }
        r.pos = start + len;
        values[i] =
          kind === TUPLE_TEXT
            ? { kind: 'text', value: buf.toString('utf8', start, start + len) }
            : { kind: 'binary', value: Buffer.from(buf.subarray(start, start + len)) }; // copied
        break;
      }
      default:
        r.fail(`${which} column ${i} has unknown value kind ${tagName(kind)}`, kindAt);
    }
  }
  return values;
}
