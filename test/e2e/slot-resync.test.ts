import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestPipeline } from '../support/pipeline.js';
import { TwoTargets } from '../support/two-targets.js';
import { waitFor } from '../support/wait.js';

/**
 * onSlotLost: resync (issue 9, section 3). The slot is dropped while the source is stopped, and
 * rows are deleted, updated and inserted in the gap (no WAL of them ever reaches a slot). The
 * restarted source creates the slot, truncates every captured table through a marker on every
 * partition and reads each table again incrementally while changes keep streaming. Every target
 * ends equal to PostgreSQL — the rows deleted in the gap are gone — with SQLite applied by one
 * process and MariaDB by a consumer group of two processes (3 partitions per topic), one of which
 * leaves in the middle of the resync.
 */
describe('onSlotLost: resync', () => {
  const p = new TestPipeline('resync');
  const targets = new TwoTargets(p, 'resync');
  const sqlite = (t: string) => targets.sqlite(t);
  const s = () => `"${p.schema}"`;
  const env = { WALRELAY_ON_SLOT_LOST: 'resync', WALRELAY_SNAPSHOT_CHUNK_SIZE: '50', WALRELAY_TOPIC_PARTITIONS: '3' };
  const consistent = (t: string) => targets.consistent(t);
  /** Waits until the newest resyncing source has read both tables again, then stops it (SIGTERM). */
  const stopAfterResync = async (): Promise<void> => {
    const source = p.processes.filter((x) => x.name.endsWith('-source-2')).at(-1);
    assert.ok(source);
    const finished = () => source.output().split('\n').filter((l) => l.includes('incremental snapshot of the table finished')).length;
    await waitFor('the resync snapshots to finish', async () => finished() >= 2 || undefined, { timeoutMs: 120_000 });
    assert.equal(await source.stop(), 0);
  };

  before(async () => {
    await targets.create();
    await p.setup((sch) => [
      `CREATE TABLE ${sch}.items (id int8 PRIMARY KEY, v text)`,
      `INSERT INTO ${sch}.items SELECT g, 'v' || g FROM generate_series(1, 600) g`,
      `CREATE TABLE ${sch}.pairs (a int4, b text, n int4, PRIMARY KEY (a, b))`,
      `INSERT INTO ${sch}.pairs SELECT g % 7, 'b' || g, g FROM generate_series(1, 200) g`,
    ]);
    p.capture('items', 'pairs');
    p.startSource(env, 'source-1');
    p.startSink('sink-sqlite', targets.sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    p.startSink('sink-mysql', targets.mysql.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` }, 'sink-mysql-a');
    p.startSink('sink-mysql', targets.mysql.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` }, 'sink-mysql-b');
  });

  after(async () => {
    await p.cleanup();
    await targets.drop();
  });

  test('the snapshot arrives', async () => {
    await consistent('items');
    await consistent('pairs');
  });

  test('a slot dropped while the source is stopped: rows deleted, updated and inserted in the gap are followed exactly', async () => {
    const first = p.processes.find((x) => x.name.endsWith('-source-1'));
    assert.ok(first);
    assert.equal(await first.stop(), 0);
    await p.db.query('SELECT pg_drop_replication_slot($1)', [p.slot]);
    // The gap: none of this reaches Kafka through WAL.
    await p.db.query(`DELETE FROM ${s()}.items WHERE id % 10 = 3`);
    await p.db.query(`UPDATE ${s()}.items SET v = 'changed in the gap' WHERE id % 10 = 5`);
    await p.db.query(`INSERT INTO ${s()}.items SELECT g, 'inserted in the gap' FROM generate_series(601, 650) g`);
    await p.db.query(`DELETE FROM ${s()}.pairs WHERE a = 2`);
    const second = p.startSource(env, 'source-2');
    // Changes while the resync reads the tables again.
    await waitFor('the resync', async () => second.output().split('\n').find((l) => l.includes('lost slot resynced')), { timeoutMs: 90_000, describe: () => second.output().slice(-3000) });
    for (let i = 0; i < 20; i++) {
      await p.db.query(`UPDATE ${s()}.items SET v = 'during the resync ${i}' WHERE id = ${100 + i * 7}`);
      await p.db.query(`DELETE FROM ${s()}.items WHERE id = ${400 + i}`);
      await p.db.query(`INSERT INTO ${s()}.items VALUES (${700 + i}, 'inserted during the resync')`);
    }
    // One MariaDB sink process leaves mid-resync: the other takes its partitions over.
    const b = p.processes.find((x) => x.name.endsWith('-sink-mysql-b'));
    assert.ok(b);
    assert.equal(await b.stop(), 0);
    await consistent('items');
    await consistent('pairs');
    const rows = await sqlite('items')();
    assert.deepEqual(rows.filter((r) => Number(r.id) <= 600 && Number(r.id) % 10 === 3).map((r) => [r.id, r.v]), [], 'rows deleted in the gap are gone');
    const changed = Number((await p.db.query(`SELECT count(*) AS n FROM ${s()}.items WHERE v = 'changed in the gap'`)).rows[0].n);
    assert.ok(changed > 40, `${changed} rows still hold their change from the gap`);
    assert.equal(rows.filter((r) => r.v === 'changed in the gap').length, changed);
    assert.equal((await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot])).rows.length, 1, 'the slot exists again');
    assert.match(second.output(), /onSlotLost resync/);
  });

  test('a crash after the resync created the slot and before it published the markers: the next run finds the slot and the owed resync, and finishes it', async () => {
    await stopAfterResync();
    await p.db.query('SELECT pg_drop_replication_slot($1)', [p.slot]);
    await p.db.query(`DELETE FROM ${s()}.items WHERE id BETWEEN 500 AND 520`);
    const crashing = p.startSource({ ...env, WALRELAY_FAULT_INJECTION: 'crash-after-resync-slot' }, 'source-crash');
    assert.equal(await crashing.exited, -1, 'killed by a signal (SIGKILL)');
    assert.match(crashing.output(), /created replication slot for the resync/);
    assert.doesNotMatch(crashing.output(), /lost slot resynced/);
    assert.equal((await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot])).rows.length, 1, 'the slot survived the crash');
    await p.db.query(`UPDATE ${s()}.items SET v = 'after the crash' WHERE id = 2`);
    const next = p.startSource(env, 'source-2');
    await waitFor('the owed resync', async () => next.output().split('\n').find((l) => l.includes('lost slot resynced')), { timeoutMs: 90_000, describe: () => next.output().slice(-3000) });
    assert.doesNotMatch(next.output(), /created replication slot/, 'the slot of the crashed run was used');
    await consistent('items');
    await consistent('pairs');
  });

  test('after the resync the source streams as usual; a restart neither truncates nor reads the tables again', async () => {
    await stopAfterResync();
    const third = p.startSource(env, 'source-3');
    await p.db.query(`UPDATE ${s()}.items SET v = 'after the resync' WHERE id = 1`);
    await consistent('items');
    assert.doesNotMatch(third.output(), /lost slot resynced|incremental snapshot of the table finished/);
  });
});
