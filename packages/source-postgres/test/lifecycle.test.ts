import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@walrelay/core';
import { alterSlotFailoverCommand, checkpointFollowsSlot, createSlotCommand, failoverProblems, slotLostError } from '../src/slot-lifecycle.js';
import { loadSourceConfig } from '../src/config.js';
import { keyOf, noteWindowChange, reconcileChunk, type Chunk, type Window } from '../src/snapshot/incremental.js';
import { emptyCheckpoint } from '../src/publish/checkpoint.js';
import type { CapturedTable } from '../src/tables.js';

test('CREATE_REPLICATION_SLOT: FAILOVER only when asked, and only on PostgreSQL 17+', () => {
  assert.equal(createSlotCommand('s1', { exportSnapshot: true, failover: false, serverVersion: 150004 }), `CREATE_REPLICATION_SLOT "s1" LOGICAL pgoutput (SNAPSHOT 'export')`);
  assert.equal(createSlotCommand('s1', { exportSnapshot: false, failover: false, serverVersion: 170000 }), `CREATE_REPLICATION_SLOT "s1" LOGICAL pgoutput (SNAPSHOT 'nothing')`);
  assert.equal(createSlotCommand('s1', { exportSnapshot: true, failover: true, serverVersion: 170002 }), `CREATE_REPLICATION_SLOT "s1" LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER true)`);
  assert.throws(() => createSlotCommand('s1', { exportSnapshot: true, failover: true, serverVersion: 160009 }), (e: unknown) => e instanceof ConfigError && /PostgreSQL 17 or later; the server is 16\.9/.test(e.message));
  assert.equal(alterSlotFailoverCommand('s1'), 'ALTER_REPLICATION_SLOT "s1" (FAILOVER true)');
});

test('FAILOVER preflight names the settings it needs', () => {
  assert.match(failoverProblems({ serverVersion: 150004, walLevel: 'logical', synchronizedStandbySlots: null })[0]!, /PostgreSQL 17/);
  const p = failoverProblems({ serverVersion: 170000, walLevel: 'logical', synchronizedStandbySlots: '' });
  assert.equal(p.length, 1);
  assert.match(p[0]!, /synchronized_standby_slots/);
  assert.match(p[0]!, /sync_replication_slots = on/);
  assert.deepEqual(failoverProblems({ serverVersion: 170000, walLevel: 'logical', synchronizedStandbySlots: 'standby1' }), []);
  assert.match(failoverProblems({ serverVersion: 180000, walLevel: 'replica', synchronizedStandbySlots: 'sb' })[0]!, /wal_level/);
});

test('a checkpoint follows a slot once the slot was created or streamed from, not while the snapshot is only owed', () => {
  const empty = emptyCheckpoint('s');
  assert.equal(checkpointFollowsSlot(empty, false), false);
  assert.equal(checkpointFollowsSlot(empty, true), false);
  assert.equal(checkpointFollowsSlot({ ...empty, snapshot: 'RUNNING', snapshotConsistentLsn: null }, true), false);
  assert.equal(checkpointFollowsSlot({ ...empty, snapshot: 'RUNNING', snapshotConsistentLsn: 5n, endLsn: 5n, slotCreatedMs: 1n }, true), true);
  assert.equal(checkpointFollowsSlot({ ...empty, endLsn: 99n }, true), true, 'a format-1 checkpoint that streamed');
  assert.equal(checkpointFollowsSlot({ ...empty, slotCreatedMs: 1n }, true), true, 'snapshot: never, nothing streamed yet');
});

test('the lost-slot error says what happened, since when, and the options', () => {
  const e = slotLostError('s', 'db', { ...emptyCheckpoint('s'), endLsn: 0x16b3748n, slotCreatedMs: BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)), updatedMs: BigInt(Date.UTC(2026, 0, 3)) });
  assert.match(e.message, /replication slot s is gone from database db/);
  assert.match(e.message, /walrelay created it at 2026-01-02T03:04:05\.000Z/);
  assert.match(e.message, /0\/16B3748/);
  assert.match(e.message, /Options: \(1\)/);
  assert.match(e.message, /\(2\) set onSlotLost: resync and start again/);
  assert.equal(e.retriable, false);
});

test('lifecycle settings: defaults, environment, and onSlotLost (fail, resync; not with format debezium)', () => {
  const c = loadSourceConfig([], {});
  assert.equal(c.onSlotLost, 'fail');
  assert.equal(c.slotFailover, false);
  assert.deepEqual(c.incremental, { chunkSize: 1024, newTables: true, newTablesPollMs: 5000, signalTable: 'public.walrelay_signals' });
  const e = loadSourceConfig([], { WALRELAY_SLOT_FAILOVER: 'true', WALRELAY_SNAPSHOT_CHUNK_SIZE: '50', WALRELAY_SNAPSHOT_NEW_TABLES: 'false', WALRELAY_ON_SLOT_LOST: 'fail' });
  assert.equal(e.slotFailover, true);
  assert.equal(e.incremental.chunkSize, 50);
  assert.equal(e.incremental.newTables, false);
  assert.equal(loadSourceConfig([], { WALRELAY_ON_SLOT_LOST: 'resync' }).onSlotLost, 'resync');
  assert.throws(() => loadSourceConfig([], { WALRELAY_ON_SLOT_LOST: 'recreate' }), /WALRELAY_ON_SLOT_LOST/);
  assert.throws(() => loadSourceConfig([], { WALRELAY_ON_SLOT_LOST: 'resync', WALRELAY_FORMAT: 'debezium' }), /onSlotLost: resync truncates each table through a marker on every partition/);
  assert.throws(() => loadSourceConfig([], { WALRELAY_SNAPSHOT_CHUNK_SIZE: '0' }), /WALRELAY_SNAPSHOT_CHUNK_SIZE/);
});

const table = {
  relationOid: 42,
  schema: 'public',
  table: 't',
  columns: [
    { name: 'k', field: 'k', key: 1 },
    { name: 'n', field: 'n', key: 2 },
    { name: 'v', field: 'v', key: null },
  ],
  keyIndexes: [0, 1],
  converters: [(s: string) => s, (s: string) => Number(s), (s: string) => Number(s)],
} as unknown as CapturedTable;

function chunk(rows: (string | null)[][], xip: number[] = []): Chunk {
  return { id: 'c', entryId: 'e', table, rows, lastKey: rows.length ? keyOf(table, rows[rows.length - 1]!) : null, xip: new Set(xip), full: true };
}

test('a chunk drops the keys changed inside its window and keeps the rest in key order', () => {
  const w: Window = { oid: 42, keys: new Set([keyOf(table, ['b', '2'])]), toastOnly: new Map(), invalid: null, preLow: new Set([7]) };
  const r = reconcileChunk(chunk([['a', '1', '10'], ['b', '2', '20'], ['c', '3', '30']], [8, 9]), w, table);
  assert.ok('rows' in r);
  assert.deepEqual(r.rows, [{ k: 'a', n: 1, v: 10 }, { k: 'c', n: 3, v: 30 }]);
  assert.deepEqual(r.partial, []);
});

test('a key updated inside the window without its TOAST values keeps those columns from the chunk; a full image or a delete drops the row', () => {
  const toasted = {
    ...table,
    columns: [...table.columns, { name: 'big', field: 'big', key: null }, { name: 'doc', field: 'doc', key: null }],
    converters: [...table.converters, (s: string) => s, (s: string) => s],
  } as unknown as CapturedTable;
  const w: Window = { oid: 42, keys: new Set(), toastOnly: new Map(), invalid: null, preLow: new Set() };
  const k = (a: string, n: string) => keyOf(toasted, [a, n]);
  // a: one update without big and doc; b: two updates, the second wrote doc; c: an update without big, then a full image;
  // d: a full image, then an update without big; e: updates that left nothing out in common.
  noteWindowChange(w, k('a', '1'), ['big', 'doc']);
  noteWindowChange(w, k('b', '2'), ['big', 'doc']);
  noteWindowChange(w, k('b', '2'), ['big']);
  noteWindowChange(w, k('c', '3'), ['big']);
  noteWindowChange(w, k('c', '3'), []);
  noteWindowChange(w, k('d', '4'), []);
  noteWindowChange(w, k('d', '4'), ['big']);
  noteWindowChange(w, k('e', '5'), ['big']);
  noteWindowChange(w, k('e', '5'), ['doc']);
  const c: Chunk = { ...chunk([]), table: toasted, rows: [['a', '1', '10', 'A', 'DA'], ['b', '2', '20', 'B', 'DB'], ['c', '3', '30', 'C', 'DC'], ['d', '4', '40', 'D', 'DD'], ['e', '5', '50', 'E', 'DE'], ['f', '6', '60', 'F', 'DF']] };
  const r = reconcileChunk(c, w, toasted);
  assert.ok('rows' in r);
  assert.deepEqual(r.rows, [{ k: 'f', n: 6, v: 60, big: 'F', doc: 'DF' }], 'untouched keys are published whole');
  assert.deepEqual(r.partial, [
    { row: { k: 'a', n: 1, v: 10, big: 'A', doc: 'DA' }, unchanged: ['v'] },
    { row: { k: 'b', n: 2, v: 20, big: 'B', doc: 'DB' }, unchanged: ['v', 'doc'] },
  ]);
});

test('a chunk is read again when its window saw a truncate or a schema change, missed its low watermark, or a commit before it was not visible', () => {
  const base: Window = { oid: 42, keys: new Set(), toastOnly: new Map(), invalid: null, preLow: new Set([5]) };
  assert.match((reconcileChunk(chunk([['a', '1', '1']]), { ...base, invalid: 'the table was truncated inside the chunk window' }, table) as { retry: string }).retry, /truncated/);
  assert.match((reconcileChunk(chunk([['a', '1', '1']]), undefined, table) as { retry: string }).retry, /low watermark/);
  assert.match((reconcileChunk(chunk([['a', '1', '1']]), base, { ...table } as CapturedTable) as { retry: string }).retry, /definition changed/);
  assert.match((reconcileChunk(chunk([['a', '1', '1']], [4, 5]), base, table) as { retry: string }).retry, /transaction 5 committed before the low watermark/);
  assert.ok('rows' in reconcileChunk(chunk([['a', '1', '1']], [4, 6]), base, table));
});

test('a value that does not convert names table, column and key', () => {
  const bad = { ...table, converters: [(s: string) => s, (s: string) => Number(s), () => { throw new Error('no good'); }] } as unknown as CapturedTable;
  const c = { ...chunk([['a', '1', 'x']]), table: bad };
  assert.throws(() => reconcileChunk(c, { oid: 42, keys: new Set(), toastOnly: new Map(), invalid: null, preLow: new Set() }, bad), /public\.t column v \(undefined\) of the row with key \["a","1"\]: no good/);
});

test('walrelay-source snapshot: arguments', async () => {
  const { parseSnapshotArgs } = await import('../src/snapshot-command.js');
  assert.deepEqual(parseSnapshotArgs(['s.a', '"my.schema"."T"', '--where', "id > 5 AND k <> 'x'"]), {
    action: 'execute',
    tables: ['s.a', '"my.schema"."T"'],
    where: "id > 5 AND k <> 'x'",
    configArgs: [],
  });
  assert.deepEqual(parseSnapshotArgs(['--stop', '--config', 'c.yaml']), { action: 'stop', tables: [], configArgs: ['--config', 'c.yaml'] });
  assert.deepEqual(parseSnapshotArgs(['--list']), { action: 'list', configArgs: [] });
  assert.throws(() => parseSnapshotArgs([]), /at least one table/);
  assert.throws(() => parseSnapshotArgs(['a', '--where']), /--where needs a condition/);
  assert.throws(() => parseSnapshotArgs(['--list', 'a']), /--list takes no table/);
  assert.throws(() => parseSnapshotArgs(['a.b.c']), /"a.b.c": 3 name parts/);
  assert.throws(() => parseSnapshotArgs(['--bogus']), /unknown option --bogus/);
});

test('a re-read the stream asks for is queued unless one not started yet covers it (the head may be past the rows)', async () => {
  const { IncrementalSnapshots } = await import('../src/snapshot/incremental.js');
  const { createLifecycleMetrics } = await import('../src/lifecycle-metrics.js');
  const { Registry, createLogger } = await import('@walrelay/core');
  const inProgress = { id: 'head', schema: 'public', table: 't', condition: null, lastKey: '["500"]', rows: 500n, reason: 'toast_key_change' };
  const make = (entries: (typeof inProgress)[]) =>
    new IncrementalSnapshots(
      { url: 'postgres://unused' } as never,
      {} as never,
      { incremental: entries, knownTables: null, snapshot: 'DONE' },
      { slot: 's', publication: 'p', chunkSize: 1000, newTables: false, newTablesPollMs: 5000, signalTable: { schema: 'public', table: 'walrelay_signals' } } as never,
      createLifecycleMetrics(new Registry()),
      createLogger('test', 'silent'),
    );
  const t = { schema: 'public', table: 't' };
  // The only entry is the one being read (it is past key 500): a change behind it needs a new read.
  const busy = make([inProgress]);
  assert.equal(busy.requestFromStream([t], 'toast_key_change'), true);
  assert.equal(busy.checkpointFields().incremental.length, 2);
  assert.equal(busy.takeDirty(), true, 'durable with the next checkpoint');
  // A second request while that new read has not started: it covers this one too.
  assert.equal(busy.requestFromStream([t], 'toast_key_change'), false);
  assert.equal(busy.checkpointFields().incremental.length, 2);
  // Another table, or another reason, is its own read.
  assert.equal(busy.requestFromStream([{ schema: 'public', table: 'u' }], 'toast_key_change'), true);
  assert.equal(busy.requestFromStream([t], 'column_default'), true);
  assert.deepEqual(
    busy.checkpointFields().incremental.map((e) => [e.table, e.reason, e.lastKey]),
    [['t', 'toast_key_change', '["500"]'], ['t', 'toast_key_change', null], ['u', 'toast_key_change', null], ['t', 'column_default', null]],
  );
});
