/**
 * Decodes the bytes captured from a real PostgreSQL 15 server (capture-fixtures.ts) and checks
 * them against facts taken from the catalogs and the workload, never from the decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLsn } from '@walrelay/core';
import type { PgOutputMessage, TupleValue } from '../../src/protocol/index.js';
import { PgOutputDecoder } from '../../src/protocol/index.js';
import { decodeFixture, loadFixture, type DecodedFrame, type Fixture, type RelationFacts } from './helpers.js';

type Msg<T extends PgOutputMessage['tag']> = Extract<PgOutputMessage, { tag: T }>;

function text(...values: Array<string | null | 'UNCHANGED'>): TupleValue[] {
  return values.map((v) => (v === null ? { kind: 'null' } : v === 'UNCHANGED' ? { kind: 'unchanged' } : { kind: 'text', value: v }));
}

/** The messages of each non-streamed transaction, by xid (from Begin to Commit inclusive). */
function transactions(frames: DecodedFrame[]): Map<number, PgOutputMessage[]> {
  const out = new Map<number, PgOutputMessage[]>();
  let current: PgOutputMessage[] | undefined;
  for (const { message } of frames) {
    if (message.tag === 'begin') {
      assert.equal(current, undefined, 'Begin inside a transaction');
      current = [message];
      out.set(message.xid, current);
    } else if (current) {
      current.push(message);
      if (message.tag === 'commit') current = undefined;
    }
  }
  assert.equal(current, undefined, 'transaction without Commit');
  return out;
}

function only<T extends PgOutputMessage['tag']>(messages: PgOutputMessage[], tag: T): Array<Msg<T>> {
  return messages.filter((m): m is Msg<T> => m.tag === tag);
}

function assertRelation(m: Msg<'relation'>, fx: Fixture, table: string, identity: 'd' | 'n' | 'f' | 'i', keys: string[]): void {
  const facts: RelationFacts = fx.facts.relations[table]!;
  assert.equal(m.relationOid, facts.oid);
  assert.equal(m.namespace, fx.facts.schema);
  assert.equal(m.name, table);
  assert.equal(m.replicaIdentity, identity);
  assert.deepEqual(
    m.columns,
    facts.columns.map((c) => ({ flags: keys.includes(c.name) ? 1 : 0, isKey: keys.includes(c.name), name: c.name, typeOid: c.typeOid, typmod: c.typmod })),
  );
}

function assertBeginCommitPairs(frames: DecodedFrame[]): number {
  let begin: Msg<'begin'> | undefined;
  let pairs = 0;
  for (const { message: m } of frames) {
    if (m.tag === 'begin') begin = m;
    if (m.tag === 'commit') {
      assert.ok(begin, 'Commit without Begin');
      assert.equal(m.commitLsn, begin.finalLsn, 'commit.commitLsn == begin.finalLsn');
      assert.equal(m.commitTimeMicros, begin.commitTimeMicros, 'same commit time in Begin and Commit');
      assert.ok(m.endLsn > m.commitLsn, 'endLsn after commitLsn');
      assert.equal(m.flags, 0);
      begin = undefined;
      pairs++;
    }
  }
  return pairs;
}

test('fixture pgoutput-v1: relations, tuples, TOAST, identities, type, truncate, messages, origin', () => {
  const fx = loadFixture('pgoutput-v1.json');
  const frames = decodeFixture(fx);
  const { xids, relations } = fx.facts;
  const values = fx.facts.values!;
  assert.equal(assertBeginCommitPairs(frames), 10);
  assert.ok(frames.every((f) => !f.inStream && !('xid' in f.message && f.message.tag !== 'begin')), 'no xid on v1 change messages');
  const txs = transactions(frames);
  const tx = (name: string): PgOutputMessage[] => {
    const t = txs.get(xids[name]!);
    assert.ok(t, `transaction ${name} (xid ${xids[name]}) present`);
    return t;
  };
  // Commit times are microseconds since 2000-01-01: sane wall-clock values.
  const begin = frames[0]!.message as Msg<'begin'>;
  assert.ok(begin.commitTimeMicros > 7n * 10n ** 14n, 'commit time after 2022');

  // Insert into basic: relation message first, TOASTed value in full, UTF-8 text.
  const ins = tx('insertBasic');
  assertRelation(only(ins, 'relation')[0]!, fx, 'basic', 'd', ['id']);
  const [row1, row2] = only(ins, 'insert');
  assert.equal(row1!.relationOid, relations.basic!.oid);
  assert.deepEqual(row1!.newTuple, text('1', values.unicodeName!, '\\xdeadbeef', '12345.678', null, values.bigText!));
  assert.deepEqual(row2!.newTuple, text('2', 'bob', null, '-0.500', 'a note', null));
  assert.equal(relations.basic!.columns[3]!.typmod, ((12 << 16) | 3) + 4, 'numeric(12,3) typmod');

  // Update leaving the TOASTed column alone: it comes as 'u', no old tuple.
  const [keepToast] = only(tx('updateKeepToast'), 'update');
  assert.equal(keepToast!.oldKind, undefined);
  assert.equal(keepToast!.oldTuple, undefined);
  assert.deepEqual(keepToast!.newTuple, text('1', 'alice', '\\xdeadbeef', '12345.678', null, 'UNCHANGED'));

  // Update of the primary key: old key tuple ('K'), non-key columns null.
  const [keyChange] = only(tx('updateKey'), 'update');
  assert.equal(keyChange!.oldKind, 'key');
  assert.deepEqual(keyChange!.oldTuple, text('2', null, null, null, null, null));
  assert.deepEqual(keyChange!.newTuple, text('10', 'bob', null, '-0.500', 'a note', null));
  const [del] = only(tx('deleteBasic'), 'delete');
  assert.equal(del!.oldKind, 'key');
  assert.deepEqual(del!.oldTuple, text('10', null, null, null, null, null));

  // REPLICA IDENTITY FULL: every column flagged as key, old tuples 'O'.
  const full = tx('fullIdent');
  assertRelation(only(full, 'relation')[0]!, fx, 'full_ident', 'f', ['id', 'label']);
  const [fullUpdate] = only(full, 'update');
  assert.equal(fullUpdate!.oldKind, 'old');
  assert.deepEqual(fullUpdate!.oldTuple, text('1', 'one'));
  assert.deepEqual(fullUpdate!.newTuple, text('1', 'uno'));
  const [fullDelete] = only(full, 'delete');
  assert.deepEqual({ kind: fullDelete!.oldKind, tuple: fullDelete!.oldTuple }, { kind: 'old', tuple: text('2', 'two') });

  // Enum column: a Type message precedes the Relation.
  const moods = tx('moods');
  const typeIdx = moods.findIndex((m) => m.tag === 'type');
  const relIdx = moods.findIndex((m) => m.tag === 'relation');
  assert.ok(typeIdx > 0 && typeIdx < relIdx, 'Type before Relation');
  assert.deepEqual(moods[typeIdx], { tag: 'type', typeOid: fx.facts.types!.mood, namespace: fx.facts.schema, name: 'mood' });
  assertRelation(moods[relIdx] as Msg<'relation'>, fx, 'moods', 'd', ['id']);
  assert.equal((moods[relIdx] as Msg<'relation'>).columns[1]!.typeOid, fx.facts.types!.mood);
  assert.deepEqual(only(moods, 'insert').map((m) => m.newTuple), [text('1', 'happy'), text('2', null)]);

  // REPLICA IDENTITY USING INDEX.
  const idx = tx('idxIdent');
  assertRelation(only(idx, 'relation')[0]!, fx, 'idx_ident', 'i', ['code']);
  assert.deepEqual(only(idx, 'update')[0]!.newTuple, text('a', '2'));
  assert.deepEqual(only(idx, 'delete')[0]!.oldTuple, text('a', null));

  // TRUNCATE ... RESTART IDENTITY CASCADE of two tables.
  const [trunc] = only(tx('truncate'), 'truncate');
  assert.equal(trunc!.cascade, true);
  assert.equal(trunc!.restartIdentity, true);
  assert.deepEqual([...trunc!.relationOids].sort(), [relations.full_ident!.oid, relations.moods!.oid].sort());

  // Transactional logical message: inside its transaction, before the commit LSN.
  const msgTx = tx('transactionalMessage');
  const [tmsg] = only(msgTx, 'message');
  assert.equal(tmsg!.transactional, true);
  assert.equal(tmsg!.prefix, 'walrelay.test');
  assert.equal(tmsg!.content.toString('utf8'), 'hello, transactional');
  assert.ok(tmsg!.lsn < (msgTx[0] as Msg<'begin'>).finalLsn);

  // Non-transactional message: outside any Begin..Commit, binary content.
  const nonTx = frames.map((f) => f.message).filter((m): m is Msg<'message'> => m.tag === 'message' && !m.transactional);
  assert.equal(nonTx.length, 1);
  assert.deepEqual(nonTx[0]!.content, Buffer.from('00ff0102', 'hex'));
  const nonTxAt = frames.findIndex((f) => f.message === nonTx[0]);
  assert.equal(frames[nonTxAt - 1]!.message.tag, 'commit');
  assert.equal(frames[nonTxAt + 1]!.message.tag, 'begin');

  // Origin message right after Begin of the transaction replayed from an origin.
  const orig = tx('origin');
  assert.deepEqual(orig[1], { tag: 'origin', originLsn: parseLsn(values.originLsn!), name: values.originName });
});

test("fixture pgoutput-v1: Message content is a copy, not a view of the caller's buffer", () => {
  const fx = loadFixture('pgoutput-v1.json');
  const decoder = new PgOutputDecoder({ protocolVersion: 1 });
  for (const f of fx.frames) {
    const bytes = Buffer.from(f.hex, 'hex');
    const m = decoder.decode(bytes);
    if (m.tag !== 'message') continue;
    const before = Buffer.from(m.content);
    bytes.fill(0x55);
    assert.deepEqual(m.content, before);
  }
});

test('fixture pgoutput-v1-binary: binary tuple values', () => {
  const fx = loadFixture('pgoutput-v1-binary.json');
  const frames = decodeFixture(fx);
  assert.equal(assertBeginCommitPairs(frames), 1);
  const ins = frames.map((f) => f.message).find((m): m is Msg<'insert'> => m.tag === 'insert');
  assert.ok(ins);
  const [id, name, data, amount, note, big] = ins.newTuple;
  assert.deepEqual(id, { kind: 'binary', value: Buffer.from([0, 0, 0, 3]) }); // int4 send format
  assert.deepEqual(name, { kind: 'binary', value: Buffer.from('bin') });
  assert.deepEqual(data, { kind: 'binary', value: Buffer.from('0001feff', 'hex') });
  assert.equal(amount!.kind, 'binary'); // numeric send format: ndigits, weight, sign, dscale, digits
  if (amount?.kind === 'binary') assert.equal(amount.value.readInt16BE(6), 3, 'dscale 3: numeric(12,3) stores 1.500');
  assert.deepEqual([note, big], [{ kind: 'null' }, { kind: 'null' }]);

  // Copied: clobbering the source buffer leaves the values intact.
  const frame = frames.find((f) => f.message.tag === 'insert')!;
  const again = new PgOutputDecoder({ protocolVersion: 1 }).decode(Buffer.from(frame.bytes)) as Msg<'insert'>;
  frame.bytes.fill(0);
  assert.deepEqual(again.newTuple[2], { kind: 'binary', value: Buffer.from('0001feff', 'hex') });
});

test('fixture pgoutput-v2-stream: stream blocks, xids, stream commit, stream abort (top-level and subtransaction)', () => {
  const fx = loadFixture('pgoutput-v2-stream.json');
  const frames = decodeFixture(fx);
  const { xids, relations } = fx.facts;

  // Inside Stream Start..Stop every change carries an xid; outside none does.
  let streamXid: number | undefined;
  const seenFirst = new Set<number>();
  const changesByTop = new Map<number, PgOutputMessage[]>();
  const subXidsByTop = new Map<number, Set<number>>();
  for (const { message: m, inStream } of frames) {
    if (m.tag === 'stream_start') {
      assert.equal(inStream, false);
      assert.equal(m.firstSegment, !seenFirst.has(m.xid), `firstSegment for xid ${m.xid}`);
      seenFirst.add(m.xid);
      streamXid = m.xid;
      continue;
    }
    if (m.tag === 'stream_stop') {
      assert.equal(inStream, true);
      streamXid = undefined;
      continue;
    }
    if (inStream) {
      assert.ok(streamXid !== undefined);
      assert.ok('xid' in m && typeof m.xid === 'number', `${m.tag} inside a stream carries an xid`);
      const list = changesByTop.get(streamXid) ?? [];
      list.push(m);
      changesByTop.set(streamXid, list);
      const subs = subXidsByTop.get(streamXid) ?? new Set<number>();
      subs.add((m as { xid: number }).xid);
      subXidsByTop.set(streamXid, subs);
    } else if (m.tag === 'insert' || m.tag === 'relation') {
      assert.equal(m.xid, undefined, 'no xid outside a stream');
    }
  }
  assert.equal(streamXid, undefined, 'stream left open');

  // The big committed transaction: several segments, all rows, then Stream Commit.
  const committed = changesByTop.get(xids.committed!)!;
  const segments = frames.filter((f) => f.message.tag === 'stream_start' && f.message.xid === xids.committed).length;
  assert.ok(segments >= 2, `committed transaction streamed in ${segments} segments`);
  assertRelation(only(committed, 'relation').find((r) => r.name === 'bulk')!, fx, 'bulk', 'd', ['id']);
  const bulkInserts = only(committed, 'insert').filter((m) => m.relationOid === relations.bulk!.oid);
  assert.equal(bulkInserts.length, fx.facts.committedRows);
  assert.ok(bulkInserts.every((m) => m.xid === xids.committed));
  assert.deepEqual(bulkInserts[41]!.newTuple, text('42', 'row 42'));
  assert.deepEqual(only(committed, 'update')[0]!.newTuple, text('1', 'changed'));
  assert.deepEqual(only(committed, 'delete')[0]!.oldTuple, text('2', null));
  const smsg = only(committed, 'message')[0]!;
  assert.deepEqual([smsg.xid, smsg.transactional, smsg.prefix, smsg.content.toString()], [xids.committed, true, 'walrelay.stream', 'inside a streamed transaction']);
  assert.deepEqual(only(committed, 'type')[0], { tag: 'type', xid: xids.committed, typeOid: fx.facts.types!.mood, namespace: fx.facts.schema, name: 'mood' });
  assert.deepEqual(only(committed, 'truncate')[0], {
    tag: 'truncate',
    xid: xids.committed,
    cascade: false,
    restartIdentity: false,
    relationOids: [relations.full_ident!.oid],
  });
  const commits = frames.map((f) => f.message).filter((m): m is Msg<'stream_commit'> => m.tag === 'stream_commit');
  const commit = commits.find((c) => c.xid === xids.committed);
  assert.ok(commit, 'Stream Commit of the committed transaction');
  assert.equal(commit.flags, 0);
  assert.ok(commit.endLsn > commit.commitLsn && commit.commitTimeMicros > 0n);

  // Whole streamed transaction rolled back: Stream Abort with subXid == xid, and no Stream Commit.
  const aborts = frames.map((f) => f.message).filter((m): m is Msg<'stream_abort'> => m.tag === 'stream_abort');
  assert.deepEqual(
    aborts.find((a) => a.xid === xids.aborted),
    { tag: 'stream_abort', xid: xids.aborted, subXid: xids.aborted },
  );
  assert.equal(commits.find((c) => c.xid === xids.aborted), undefined);

  // Streamed subtransaction rolled back to a savepoint: Stream Abort names the subtransaction,
  // whose changes were streamed with the subtransaction's xid; the top level then commits.
  const subAbort = aborts.find((a) => a.xid === xids.subAbortTop);
  assert.ok(subAbort);
  assert.notEqual(subAbort.subXid, subAbort.xid);
  assert.ok(subXidsByTop.get(xids.subAbortTop!)!.has(subAbort.subXid), 'changes streamed under the subtransaction xid');
  assert.ok(commits.some((c) => c.xid === xids.subAbortTop));

  // The small transaction stays a plain Begin/Commit pair.
  assert.equal(assertBeginCommitPairs(frames), 1);
  const small = transactions(frames).get(xids.small!)!;
  assert.deepEqual(only(small, 'insert')[0], { tag: 'insert', relationOid: relations.bulk!.oid, newTuple: text('500001', 'small') });
});
