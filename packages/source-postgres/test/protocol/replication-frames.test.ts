import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '@walrelay/core';
import { decodeReplicationFrame, encodeStandbyStatus, pgEpochMicros, pgMicrosToUnixMs } from '../../src/protocol/index.js';
import { Bytes } from './helpers.js';

test('XLogData: header fields, data is a view (not a copy) of the frame', () => {
  const payload = Buffer.from('B0123456789abcdefghij');
  const frame = new Bytes().tag('w').u64(0x1_0000_0000n).u64(0xffff_ffff_ffff_ffffn).i64(-5n).raw(payload).build();
  const f = decodeReplicationFrame(frame);
  assert.equal(f.kind, 'xlogdata');
  if (f.kind !== 'xlogdata') return;
  assert.equal(f.walStart, 0x1_0000_0000n);
  assert.equal(f.walEnd, 0xffff_ffff_ffff_ffffn);
  assert.equal(f.sendTimeMicros, -5n);
  assert.deepEqual(f.data, payload);
  assert.equal(f.data.buffer, frame.buffer, 'same backing memory');
  assert.equal(f.data.byteOffset, frame.byteOffset + 25);
  frame[25] = 0x43;
  assert.equal(f.data[0], 0x43, 'a view sees changes to the frame');
  // Empty payload is allowed.
  const empty = decodeReplicationFrame(new Bytes().tag('w').u64(1n).u64(2n).i64(3n).build());
  assert.equal(empty.kind === 'xlogdata' && empty.data.length, 0);
});

test('keepalive', () => {
  const k = decodeReplicationFrame(new Bytes().tag('k').u64(0x16b3748n).i64(848846472209932n).u8(1).build());
  assert.deepEqual(k, { kind: 'keepalive', walEnd: 0x16b3748n, sendTimeMicros: 848846472209932n, replyRequested: true });
  const k0 = decodeReplicationFrame(new Bytes().tag('k').u64(1n).i64(2n).u8(0).build());
  assert.deepEqual(k0, { kind: 'keepalive', walEnd: 1n, sendTimeMicros: 2n, replyRequested: false });
});

test('replication frame errors: DecodeError naming the frame and offset', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.alloc(0), /^replication frame: empty CopyData payload at offset 0$/],
    [Buffer.from('x'), /^replication frame: unknown CopyData message tag 'x' \(0x78\) at offset 0/],
    [new Bytes().tag('w').u64(1n).u64(2n).u32(0).build(), /^replication XLogData \(tag 'w'\): send time \(8 bytes\) runs past the end of the 21-byte message at offset 17$/],
    [new Bytes().tag('k').u64(1n).i64(2n).build(), /^replication Primary keepalive \(tag 'k'\): reply-requested flag \(1 bytes\) runs past the end of the 17-byte message at offset 17$/],
    [new Bytes().tag('k').u64(1n).i64(2n).u8(0).u8(0).build(), /1 unexpected trailing byte\(s\) after the end of the message at offset 18$/],
    [encodeStandbyStatus(1n, 2n, 3n, 4n), /unknown CopyData message tag 'r'/],
  ];
  for (const [buf, pattern] of cases) {
    assert.throws(() => decodeReplicationFrame(buf), (e: unknown) => e instanceof DecodeError && pattern.test(e.message));
  }
});

test('encodeStandbyStatus: Byte1(r), 3 x Int64 LSN, Int64 clock, Byte1 reply: 34 bytes', () => {
  const write = 0x0000_0001_0000_0010n;
  const flush = 0x0000_0001_0000_0008n;
  const apply = 0xffff_ffff_0000_0000n;
  const clock = 848846472209932n;
  const b = encodeStandbyStatus(write, flush, apply, clock, true);
  assert.equal(b.length, 34);
  assert.equal(b[0], 'r'.charCodeAt(0));
  assert.deepEqual(
    b,
    Buffer.from(
      '72' + '0000000100000010' + '0000000100000008' + 'ffffffff00000000' + clock.toString(16).padStart(16, '0') + '01',
      'hex',
    ),
  );
  // Round trip through a reader of the same layout.
  assert.deepEqual(
    [b.readBigUInt64BE(1), b.readBigUInt64BE(9), b.readBigUInt64BE(17), b.readBigInt64BE(25), b[33]],
    [write, flush, apply, clock, 1],
  );
  assert.equal(encodeStandbyStatus(0n, 0n, 0n, -1n)[33], 0, 'replyRequested defaults to false');
  assert.equal(encodeStandbyStatus(0n, 0n, 0n, -1n).readBigInt64BE(25), -1n);
});

test('PostgreSQL epoch conversions', () => {
  assert.equal(pgEpochMicros(Date.UTC(2000, 0, 1)), 0n);
  assert.equal(pgEpochMicros(Date.UTC(2000, 0, 1, 0, 0, 1)), 1_000_000n);
  assert.equal(pgEpochMicros(Date.UTC(1999, 11, 31, 23, 59, 59)), -1_000_000n);
  assert.equal(pgMicrosToUnixMs(0n), Date.UTC(2000, 0, 1));
  assert.equal(pgMicrosToUnixMs(1_500n), Date.UTC(2000, 0, 1) + 1);
  assert.equal(pgMicrosToUnixMs(-1n), Date.UTC(2000, 0, 1) - 1, 'floors');
  const now = Date.now();
  assert.equal(pgMicrosToUnixMs(pgEpochMicros(now)), now);
  const live = pgEpochMicros();
  assert.ok(live > pgEpochMicros(now - 1000) && live < pgEpochMicros(now + 60_000));
  assert.throws(() => pgEpochMicros(Number.NaN), RangeError);
});
