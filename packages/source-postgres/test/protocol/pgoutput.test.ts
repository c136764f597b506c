/** Hand-built pgoutput messages: every message type, every protocol version, every error path. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '@walrelay/core';
import { PgOutputDecoder, type PgOutputMessage } from '../../src/protocol/index.js';
import { Bytes } from './helpers.js';

const LSN1 = 0x0000_0001_2345_6789n;
const LSN2 = 0x0000_0001_2345_9999n;
const LSN3 = 0xffff_ffff_ffff_fff0n; // top bit set: must stay unsigned
const T1 = 848_846_472_209_932n;
const T2 = -1_000_000n; // before 2000-01-01: timestamps are signed
const XID = 0xfffffff0; // > 2^31: xids are unsigned

function decoder(protocolVersion: number, inStream = false): PgOutputDecoder {
  const d = new PgOutputDecoder({ protocolVersion });
  if (inStream) d.decode(new Bytes().tag('S').u32(XID).u8(1).build());
  return d;
}

function decodeErr(d: PgOutputDecoder, buf: Buffer, pattern: RegExp): DecodeError {
  let caught: unknown;
  try {
    d.decode(buf);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DecodeError, `expected a DecodeError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.match(caught.message, / at offset \d+/);
  return caught;
}

const cases: Array<{
  name: string;
  version: number;
  inStream?: boolean;
  bytes: Buffer;
  expected: PgOutputMessage;
  /** prefixes that are themselves valid messages */
  validPrefix?: number;
  /** what one appended byte is reported as */
  trailing?: RegExp;
}> = [
  {
    name: 'Begin',
    version: 1,
    bytes: new Bytes().tag('B').u64(LSN3).i64(T1).u32(XID).build(),
    expected: { tag: 'begin', finalLsn: LSN3, commitTimeMicros: T1, xid: XID },
  },
  {
    name: 'Commit',
    version: 1,
    bytes: new Bytes().tag('C').u8(0).u64(LSN1).u64(LSN2).i64(T2).build(),
    expected: { tag: 'commit', flags: 0, commitLsn: LSN1, endLsn: LSN2, commitTimeMicros: T2 },
  },
  {
    name: 'Origin',
    version: 1,
    bytes: new Bytes().tag('O').u64(LSN1).cstr('upstream').build(),
    expected: { tag: 'origin', originLsn: LSN1, name: 'upstream' },
  },
  {
    name: 'Relation',
    version: 1,
    bytes: new Bytes()
      .tag('R').u32(16384).cstr('public').cstr('tbl ü').u8('f'.charCodeAt(0)).u16(2)
      .u8(1).cstr('id').u32(23).i32(-1)
      .u8(0).cstr('n').u32(1700).i32(786439)
      .build(),
    expected: {
      tag: 'relation',
      relationOid: 16384,
      namespace: 'public',
      name: 'tbl ü',
      replicaIdentity: 'f',
      columns: [
        { flags: 1, isKey: true, name: 'id', typeOid: 23, typmod: -1 },
        { flags: 0, isKey: false, name: 'n', typeOid: 1700, typmod: 786439 },
      ],
    },
  },
  {
    name: 'Relation in a stream (xid) with no columns',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('R').u32(7).u32(16385).cstr('').cstr('t').u8('n'.charCodeAt(0)).u16(0).build(),
    expected: { tag: 'relation', xid: 7, relationOid: 16385, namespace: '', name: 't', replicaIdentity: 'n', columns: [] },
  },
  {
    name: 'Type',
    version: 1,
    bytes: new Bytes().tag('Y').u32(16390).cstr('s').cstr('mood').build(),
    expected: { tag: 'type', typeOid: 16390, namespace: 's', name: 'mood' },
  },
  {
    name: 'Type in a stream',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('Y').u32(9).u32(16390).cstr('s').cstr('mood').build(),
    expected: { tag: 'type', xid: 9, typeOid: 16390, namespace: 's', name: 'mood' },
  },
  {
    name: 'Insert with every value kind',
    version: 1,
    bytes: new Bytes().tag('I').u32(16384).tag('N').tuple(['1', null, { unchanged: true }, Buffer.from([0, 1, 2]), '', '🐢']).build(),
    expected: {
      tag: 'insert',
      relationOid: 16384,
      newTuple: [
        { kind: 'text', value: '1' },
        { kind: 'null' },
        { kind: 'unchanged' },
        { kind: 'binary', value: Buffer.from([0, 1, 2]) },
        { kind: 'text', value: '' },
        { kind: 'text', value: '🐢' },
      ],
    },
  },
  {
    name: 'Insert in a stream',
    version: 3,
    inStream: true,
    bytes: new Bytes().tag('I').u32(XID).u32(16384).tag('N').tuple(['1']).build(),
    expected: { tag: 'insert', xid: XID, relationOid: 16384, newTuple: [{ kind: 'text', value: '1' }] },
  },
  {
    name: 'Update, new tuple only',
    version: 1,
    bytes: new Bytes().tag('U').u32(16384).tag('N').tuple(['1', { unchanged: true }]).build(),
    expected: { tag: 'update', relationOid: 16384, newTuple: [{ kind: 'text', value: '1' }, { kind: 'unchanged' }] },
  },
  {
    name: 'Update with key tuple',
    version: 1,
    bytes: new Bytes().tag('U').u32(16384).tag('K').tuple(['1', null]).tag('N').tuple(['2', 'x']).build(),
    expected: {
      tag: 'update',
      relationOid: 16384,
      oldKind: 'key',
      oldTuple: [{ kind: 'text', value: '1' }, { kind: 'null' }],
      newTuple: [{ kind: 'text', value: '2' }, { kind: 'text', value: 'x' }],
    },
  },
  {
    name: 'Update with old tuple in a stream',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('U').u32(5).u32(16384).tag('O').tuple(['a']).tag('N').tuple(['b']).build(),
    expected: {
      tag: 'update',
      xid: 5,
      relationOid: 16384,
      oldKind: 'old',
      oldTuple: [{ kind: 'text', value: 'a' }],
      newTuple: [{ kind: 'text', value: 'b' }],
    },
  },
  {
    name: 'Delete with key',
    version: 1,
    bytes: new Bytes().tag('D').u32(16384).tag('K').tuple(['1', null]).build(),
    expected: { tag: 'delete', relationOid: 16384, oldKind: 'key', oldTuple: [{ kind: 'text', value: '1' }, { kind: 'null' }] },
  },
  {
    name: 'Delete with old tuple in a stream',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('D').u32(5).u32(16384).tag('O').tuple(['1']).build(),
    expected: { tag: 'delete', xid: 5, relationOid: 16384, oldKind: 'old', oldTuple: [{ kind: 'text', value: '1' }] },
  },
  {
    name: 'Truncate',
    version: 1,
    bytes: new Bytes().tag('T').u32(3).u8(2).u32(1).u32(2).u32(0xffffffff).build(),
    expected: { tag: 'truncate', cascade: false, restartIdentity: true, relationOids: [1, 2, 0xffffffff] },
  },
  {
    name: 'Truncate in a stream',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('T').u32(5).u32(1).u8(1).u32(16384).build(),
    expected: { tag: 'truncate', xid: 5, cascade: true, restartIdentity: false, relationOids: [16384] },
  },
  {
    name: 'Message, transactional',
    version: 1,
    bytes: new Bytes().tag('M').u8(1).u64(LSN1).cstr('pfx').i32(3).raw(Buffer.from([0, 0xff, 7])).build(),
    expected: { tag: 'message', transactional: true, lsn: LSN1, prefix: 'pfx', content: Buffer.from([0, 0xff, 7]) },
  },
  {
    name: 'Message, non-transactional, empty',
    version: 1,
    bytes: new Bytes().tag('M').u8(0).u64(LSN1).cstr('').i32(0).build(),
    expected: { tag: 'message', transactional: false, lsn: LSN1, prefix: '', content: Buffer.alloc(0) },
  },
  {
    name: 'Message in a stream',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('M').u32(5).u8(1).u64(LSN1).cstr('p').i32(1).raw('x').build(),
    expected: { tag: 'message', xid: 5, transactional: true, lsn: LSN1, prefix: 'p', content: Buffer.from('x') },
  },
  {
    name: 'Stream Start',
    version: 2,
    bytes: new Bytes().tag('S').u32(XID).u8(1).build(),
    expected: { tag: 'stream_start', xid: XID, firstSegment: true },
  },
  {
    name: 'Stream Stop',
    version: 2,
    inStream: true,
    bytes: new Bytes().tag('E').build(),
    expected: { tag: 'stream_stop' },
  },
  {
    name: 'Stream Commit',
    version: 2,
    bytes: new Bytes().tag('c').u32(XID).u8(0).u64(LSN1).u64(LSN2).i64(T1).build(),
    expected: { tag: 'stream_commit', xid: XID, flags: 0, commitLsn: LSN1, endLsn: LSN2, commitTimeMicros: T1 },
  },
  {
    name: 'Stream Abort (v2)',
    version: 2,
    bytes: new Bytes().tag('A').u32(10).u32(11).build(),
    expected: { tag: 'stream_abort', xid: 10, subXid: 11 },
  },
  {
    name: 'Stream Abort (v4, streaming = on: no abort LSN/time)',
    version: 4,
    bytes: new Bytes().tag('A').u32(10).u32(10).build(),
    expected: { tag: 'stream_abort', xid: 10, subXid: 10 },
    trailing: /abort LSN \(8 bytes\) runs past the end of the 10-byte message at offset 9$/,
  },
  {
    name: 'Stream Abort (v4, streaming = parallel: abort LSN and time)',
    version: 4,
    bytes: new Bytes().tag('A').u32(10).u32(11).u64(LSN2).i64(T1).build(),
    expected: { tag: 'stream_abort', xid: 10, subXid: 11, abortLsn: LSN2, abortTimeMicros: T1 },
    validPrefix: 9, // the short (streaming = on) form
  },
  {
    name: 'Begin Prepare',
    version: 3,
    bytes: new Bytes().tag('b').u64(LSN1).u64(LSN2).i64(T1).u32(XID).cstr('gid-1').build(),
    expected: { tag: 'begin_prepare', prepareLsn: LSN1, endLsn: LSN2, prepareTimeMicros: T1, xid: XID, gid: 'gid-1' },
  },
  {
    name: 'Prepare',
    version: 3,
    bytes: new Bytes().tag('P').u8(0).u64(LSN1).u64(LSN2).i64(T1).u32(XID).cstr('gid-1').build(),
    expected: { tag: 'prepare', flags: 0, prepareLsn: LSN1, endLsn: LSN2, prepareTimeMicros: T1, xid: XID, gid: 'gid-1' },
  },
  {
    name: 'Commit Prepared',
    version: 3,
    bytes: new Bytes().tag('K').u8(0).u64(LSN1).u64(LSN2).i64(T1).u32(XID).cstr('gid-1').build(),
    expected: { tag: 'commit_prepared', flags: 0, commitLsn: LSN1, endLsn: LSN2, commitTimeMicros: T1, xid: XID, gid: 'gid-1' },
  },
  {
    name: 'Rollback Prepared',
    version: 3,
    bytes: new Bytes().tag('r').u8(0).u64(LSN1).u64(LSN2).i64(T1).i64(T2).u32(XID).cstr('gid-1').build(),
    expected: {
      tag: 'rollback_prepared',
      flags: 0,
      prepareEndLsn: LSN1,
      rollbackEndLsn: LSN2,
      prepareTimeMicros: T1,
      rollbackTimeMicros: T2,
      xid: XID,
      gid: 'gid-1',
    },
  },
  {
    name: 'Stream Prepare',
    version: 3,
    bytes: new Bytes().tag('p').u8(0).u64(LSN1).u64(LSN2).i64(T1).u32(XID).cstr('gid-2').build(),
    expected: { tag: 'stream_prepare', flags: 0, prepareLsn: LSN1, endLsn: LSN2, prepareTimeMicros: T1, xid: XID, gid: 'gid-2' },
  },
];

for (const c of cases) {
  test(`hand-built pgoutput ${c.name}`, () => {
    const d = decoder(c.version, c.inStream);
    assert.deepEqual(d.decode(c.bytes), c.expected);
    // Same bytes inside a Uint8Array that is not a Buffer, at a non-zero offset.
    const backing = new Uint8Array(c.bytes.length + 5);
    backing.set(c.bytes, 5);
    const d2 = decoder(c.version, c.inStream);
    assert.deepEqual(d2.decode(backing.subarray(5) as Buffer), c.expected);
    // Every strict prefix is a DecodeError naming the message.
    for (let len = 0; len < c.bytes.length; len++) {
      if (len === c.validPrefix) continue;
      const d3 = decoder(c.version, c.inStream);
      assert.throws(() => d3.decode(c.bytes.subarray(0, len)), DecodeError, `prefix of length ${len}`);
    }
    // A trailing byte is a layout mismatch, not silently ignored.
    const d4 = decoder(c.version, c.inStream);
    decodeErr(d4, Buffer.concat([c.bytes, Buffer.from([0])]), c.trailing ?? /unexpected trailing byte/);
  });
}

test('inStream follows Stream Start / Stream Stop, and the xid appears only inside', () => {
  const d = new PgOutputDecoder({ protocolVersion: 2 });
  const insertNoXid = new Bytes().tag('I').u32(16384).tag('N').tuple(['1']).build();
  const insertXid = new Bytes().tag('I').u32(77).u32(16384).tag('N').tuple(['1']).build();
  assert.equal(d.inStream, false);
  assert.deepEqual(d.decode(insertNoXid), { tag: 'insert', relationOid: 16384, newTuple: [{ kind: 'text', value: '1' }] });
  d.decode(new Bytes().tag('S').u32(77).u8(0).build());
  assert.equal(d.inStream, true);
  assert.deepEqual(d.decode(insertXid), { tag: 'insert', xid: 77, relationOid: 16384, newTuple: [{ kind: 'text', value: '1' }] });
  d.decode(new Bytes().tag('E').build());
  assert.equal(d.inStream, false);
  assert.equal((d.decode(insertNoXid) as { xid?: number }).xid, undefined);
});

test('stream state errors: nested Stream Start, Stream Stop outside a stream; a failed message does not change state', () => {
  const d = new PgOutputDecoder({ protocolVersion: 2 });
  decodeErr(d, new Bytes().tag('E').build(), /^pgoutput Stream Stop \(tag 'E'\): Stream Stop without a preceding Stream Start at offset 0$/);
  decodeErr(d, new Bytes().tag('S').u32(1).build(), /first-segment flag/); // truncated: state unchanged
  assert.equal(d.inStream, false);
  d.decode(new Bytes().tag('S').u32(1).u8(1).build());
  decodeErr(d, new Bytes().tag('S').u32(2).u8(1).build(), /already inside a stream/);
  assert.equal(d.inStream, true);
});

test('messages of a later protocol version are rejected by an earlier-version decoder', () => {
  const v1 = new PgOutputDecoder({ protocolVersion: 1 });
  decodeErr(v1, new Bytes().tag('S').u32(1).u8(1).build(), /^pgoutput Stream Start \(tag 'S'\): message needs protocol version 2 but the decoder is configured for version 1 at offset 0$/);
  const v2 = new PgOutputDecoder({ protocolVersion: 2 });
  decodeErr(v2, new Bytes().tag('K').u8(0).u64(1n).u64(2n).i64(3n).u32(4).cstr('g').build(), /Commit Prepared \(tag 'K'\): message needs protocol version 3/);
  // Abort LSN/time bytes before version 4 are trailing garbage.
  const v3 = new PgOutputDecoder({ protocolVersion: 3 });
  decodeErr(v3, new Bytes().tag('A').u32(1).u32(1).u64(LSN1).i64(T1).build(), /16 unexpected trailing byte/);
  assert.throws(() => new PgOutputDecoder({ protocolVersion: 5 }), RangeError);
  assert.throws(() => new PgOutputDecoder({ protocolVersion: 0 }), RangeError);
});

test('unknown tag: DecodeError naming the tag', () => {
  const d = new PgOutputDecoder({ protocolVersion: 4 });
  const e = decodeErr(d, Buffer.from('Zabc'), /^pgoutput: unknown message tag 'Z' \(0x5a\) at offset 0$/);
  assert.equal(e.code, 'DECODE');
  assert.equal(e.retriable, false);
  decodeErr(d, Buffer.from([0x00, 1, 2]), /unknown message tag 0x00 \(0x00\)/);
  decodeErr(d, Buffer.from([0xff]), /unknown message tag 0xff/);
  decodeErr(d, Buffer.alloc(0), /^pgoutput: empty message at offset 0$/);
  decodeErr(d, 'B' as unknown as Buffer, /expected a Buffer/);
});

test('error messages name the message type, the field and the byte offset', () => {
  const d = new PgOutputDecoder({ protocolVersion: 1 });
  // Update, 3 columns, column 2 claims 4000 bytes of text.
  const update = new Bytes().tag('U').u32(1).tag('N').u16(3).tag('t').i32(1).raw('a').tag('n').tag('t').i32(4000).raw('short').build();
  decodeErr(d, update, new RegExp(`^pgoutput Update \\(tag 'U'\\): new tuple column 2 text length 4000 runs past the end of the ${update.length}-byte message at offset 16$`));
  const negative = new Bytes().tag('I').u32(1).tag('N').u16(1).tag('b').i32(-5).build();
  decodeErr(d, negative, /^pgoutput Insert \(tag 'I'\): new tuple column 0 binary length -5 is negative at offset 9$/);
  const badKind = new Bytes().tag('I').u32(1).tag('N').u16(1).tag('x').build();
  decodeErr(d, badKind, /^pgoutput Insert \(tag 'I'\): new tuple column 0 has unknown value kind 'x' at offset 8$/);
  const hugeCount = new Bytes().tag('I').u32(1).tag('N').u16(65535).tag('n').build();
  decodeErr(d, hugeCount, /new tuple column count 65535 cannot fit in the remaining 1 bytes of the 9-byte message at offset 6$/);
  const badMarker = new Bytes().tag('U').u32(1).tag('X').build();
  decodeErr(d, badMarker, /^pgoutput Update \(tag 'U'\): expected tuple marker 'K', 'O' or 'N', got 'X' at offset 5$/);
  const noNew = new Bytes().tag('U').u32(1).tag('K').tuple(['1']).tag('K').build();
  decodeErr(d, noNew, /expected tuple marker 'N', got 'K'/);
  const deleteNew = new Bytes().tag('D').u32(1).tag('N').tuple(['1']).build();
  decodeErr(d, deleteNew, /^pgoutput Delete \(tag 'D'\): expected tuple marker 'K' or 'O', got 'N' at offset 5$/);
  const hugeTruncate = new Bytes().tag('T').u32(0xffffffff).u8(0).build();
  decodeErr(d, hugeTruncate, /^pgoutput Truncate \(tag 'T'\): relation count 4294967295 needs 17179869180 bytes but only 0 remain/);
  const badIdentity = new Bytes().tag('R').u32(1).cstr('s').cstr('t').tag('z').u16(0).build();
  decodeErr(d, badIdentity, /^pgoutput Relation \(tag 'R'\): replica identity 'z' is not one of 'd', 'n', 'f', 'i' at offset 9$/);
  const noNul = new Bytes().tag('O').u64(1n).raw('name-without-terminator').build();
  decodeErr(d, noNul, /^pgoutput Origin \(tag 'O'\): origin name: string has no NUL terminator before the end of the 32-byte message at offset 9$/);
  const shortBegin = new Bytes().tag('B').u64(1n).u32(0).build();
  decodeErr(d, shortBegin, /^pgoutput Begin \(tag 'B'\): commit timestamp \(8 bytes\) runs past the end of the 13-byte message at offset 9$/);
  const hugeMessage = new Bytes().tag('M').u8(0).u64(1n).cstr('p').i32(0x7fffffff).build();
  decodeErr(d, hugeMessage, /^pgoutput Message \(tag 'M'\): content length 2147483647 runs past the end of the 16-byte message at offset 12$/);
});

test('errors carry details and never an internal cause', () => {
  const d = new PgOutputDecoder({ protocolVersion: 1 });
  const e = decodeErr(d, new Bytes().tag('B').u32(0).build(), /final LSN/);
  assert.equal(e.cause, undefined);
  assert.deepEqual(e.details, { message: "pgoutput Begin (tag 'B')", offset: 1, length: 5 });
});
