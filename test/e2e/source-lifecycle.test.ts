import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { checkpointTopic, tableTopic } from '@walrelay/core';
import { sqliteRows } from '../support/checker.js';
import { PG_URL } from '../support/env.js';
import { q } from '../support/postgres.js';
import { TestPipeline } from '../support/pipeline.js';
import { testKafka, TopicCollector, type ReadRecord } from '../support/kafka.js';
import type { RunningProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { hasLog, logLines } from '../support/changes.js';
import { insertSignal } from '../../packages/source-postgres/src/snapshot/signals.js';
import { runSnapshotCommand } from '../../packages/source-postgres/src/snapshot-command.js';
import { encodeCheckpointV1, emptyCheckpoint } from '../../packages/source-postgres/src/publish/checkpoint.js';


/**
 * A table's life in walrelay-source against real PostgreSQL, Kafka and the registry:
 * an initial snapshot that fails is owed until it is done (each failure of issue 9,
 * then fixed), a lost slot stops the source, incremental snapshots (a table joining
 * the publication, a signal under concurrent writes, kill -9 in the middle), and
 * snapshots that read only what the publication publishes.
 */

function logs(ps: readonly RunningProcess[]): string {
  return ps.map((p) => `--- ${p.name} (${p.logFile})\n${p.output().slice(-3000)}`).join('\n');
}

async function collect(p: TestPipeline, table: string): Promise<TopicCollector> {
  const c = new TopicCollector([tableTopic(p.prefix, p.schema, table)]);
  await waitFor(
    `topic of ${table}`,
    async () => {
      try {
        await c.start();
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 90_000, describe: () => logs(p.processes) },
  );
  return c;
}

/** Latest image per key (String(id) or JSON of the key), deletes and tombstones removing it. */
function fold(records: readonly ReadRecord[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const r of records) {
    if (r.value?.op === 't') {
      state.clear();
      continue;
    }
    const k = keyText(r.key);
    if (!r.value || r.value.op === 'd') state.delete(k);
    else state.set(k, r.value.after as Record<string, unknown>);
  }
  return state;
}

function keyText(key: unknown): string {
  return JSON.stringify(key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function readCounts(records: readonly ReadRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) if (r.value?.op === 'r') m.set(keyText(r.key), (m.get(keyText(r.key)) ?? 0) + 1);
  return m;
}

const signalEnv = (p: TestPipeline): Record<string, string> => ({ WALRELAY_SIGNAL_TABLE: `${p.schema}.walrelay_signals`, WALRELAY_SNAPSHOT_NEW_TABLES_POLL_MS: '300' });

describe('walrelay-source: an initial snapshot is owed until it is done', () => {
  test('a wrong registry URL on the first start, then fixed: every row arrives once', async () => {
    const p = new TestPipeline('lc_reg');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t SELECT g, 'v' || g FROM generate_series(1, 30) g`]);
      p.capture('t');
      // A registry that does not answer at all is caught by the start-up checks before anything
      // exists (test/e2e/operations.test.ts). A wrong path on a live server answers them (404 for
      // an unknown subject) and fails only at the first registration, inside the snapshot.
      const bad = p.startSource({ ...signalEnv(p), WALRELAY_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/not-the-registry/v7' }, 'bad-registry');
      await waitFor('the snapshot to fail on the registry', () => /snapshot failed/.test(bad.output()), { timeoutMs: 90_000, describe: () => logs([bad]) });
      await bad.stop();
      const good = p.startSource(signalEnv(p), 'good-registry');
      c = await collect(p, 't');
      await waitFor('30 rows', () => c!.records.length >= 30, { timeoutMs: 90_000, describe: () => logs([good]) });
      await waitFor('the resumed snapshot to finish', () => hasLog(good, 'initial snapshot finished (resumed incrementally)'), { timeoutMs: 60_000, describe: () => logs([good]) });
      assert.ok(hasLog(good, /keeping the slot, streaming from its consistent point/), 'the restart kept the slot');
      await p.db.query(`INSERT INTO ${q(p.schema)}.t VALUES (31, 'after')`);
      await waitFor('the insert after the snapshot', () => c!.records.some((r) => r.value?.op === 'c'), { timeoutMs: 60_000, describe: () => logs([good]) });
      const reads = readCounts(c.records);
      assert.equal(reads.size, 30);
      assert.ok([...reads.values()].every((n) => n === 1), 'every row read exactly once');
      assert.equal(fold(c.records).size, 31);
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test('a numeric(5,2) NaN stops the snapshot naming it; fixed and restarted, every row arrives once', async () => {
    const p = new TestPipeline('lc_nan');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [
        `CREATE TABLE ${s}.t (id int8 PRIMARY KEY, amount numeric(5,2))`,
        `INSERT INTO ${s}.t SELECT g, g / 4.0 FROM generate_series(1, 30) g`,
        `UPDATE ${s}.t SET amount = 'NaN' WHERE id = 17`,
      ]);
      p.capture('t');
      const first = p.startSource(signalEnv(p), 'nan');
      const code = await Promise.race([first.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 120_000))]);
      assert.notEqual(code, 0, `the source stops on the NaN (exit ${String(code)})\n${logs([first])}`);
      assert.notEqual(code, 'still running', logs([first]));
      assert.match(first.output(), /amount/, 'the error names the column');
      assert.match(first.output(), /NaN/);
      await p.db.query(`UPDATE ${q(p.schema)}.t SET amount = 1.5 WHERE id = 17`);
      const second = p.startSource(signalEnv(p), 'fixed');
      c = await collect(p, 't');
      await waitFor('the resumed snapshot to finish', () => hasLog(second, 'initial snapshot finished (resumed incrementally)'), { timeoutMs: 90_000, describe: () => logs([second]) });
      await waitFor('30 rows read', () => readCounts(c!.records).size >= 30, { timeoutMs: 60_000, describe: () => logs([second]) });
      const reads = readCounts(c.records);
      assert.ok([...reads.values()].every((n) => n === 1), 'every row read exactly once');
      const state = fold(c.records);
      assert.equal(state.size, 30);
      // The fixed value, not the NaN, arrived (by the stream of the UPDATE and by the resumed read).
      assert.equal(state.get(keyText({ id: 17n }))?.amount, '1.50');
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test('the topic deleted right after it was created: the retried snapshot still delivers every row once', async () => {
    const p = new TestPipeline('lc_topic');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t SELECT g, 'v' || g FROM generate_series(1, 30) g`]);
      p.capture('t');
      // The first attempt dies right after it created the topic (kill -9 as soon as the
      // topic exists), and the topic is deleted before the restart, which must create it
      // again and still deliver every row once.
      const first = p.startSource(signalEnv(p), 'first');
      const admin = testKafka().admin();
      await admin.connect();
      const topic = tableTopic(p.prefix, p.schema, 't');
      await waitFor('the topic to be created', async () => (await admin.listTopics()).includes(topic), { timeoutMs: 90_000, intervalMs: 20, describe: () => logs([first]) });
      first.kill('SIGKILL');
      await first.exited;
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(topic), { timeoutMs: 60_000 });
      await admin.disconnect();
      const second = p.startSource(signalEnv(p), 'second');
      c = await collect(p, 't');
      await waitFor('30 rows read', () => readCounts(c!.records).size >= 30, { timeoutMs: 90_000, describe: () => logs([first, second]) });
      await p.db.query(`INSERT INTO ${q(p.schema)}.t VALUES (31, 'after')`);
      await waitFor('the insert after the snapshot', () => c!.records.some((r) => r.value?.op === 'c'), { timeoutMs: 60_000, describe: () => logs([second]) });
      const reads = readCounts(c.records);
      assert.equal(reads.size, 30);
      assert.ok([...reads.values()].every((n) => n === 1), `every row read exactly once: ${JSON.stringify([...reads].filter(([, n]) => n !== 1))}`);
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});

describe('walrelay-source: upgrading from a 0.1 checkpoint', () => {
  test('a RUNNING format-1 checkpoint (no per-table progress) with its slot: the snapshot is taken again and every row arrives', async () => {
    const p = new TestPipeline('lc_v1');
    let c: TopicCollector | undefined;
    const kafka = testKafka();
    const admin = kafka.admin();
    const producer = kafka.producer();
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t SELECT g, 'v' FROM generate_series(1, 30) g`]);
      p.capture('t');
      // What walrelay 0.1 left behind when its snapshot failed after the first commit.
      const slot = await p.db.query("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [p.slot]);
      const lsn = BigInt(`0x${(slot.rows[0].lsn as string).split('/').map((x) => x.padStart(8, '0')).join('')}`);
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: checkpointTopic(p.prefix), numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true });
      await producer.connect();
      await producer.send({
        topic: checkpointTopic(p.prefix),
        messages: [{ key: p.slot, partition: 0, value: encodeCheckpointV1({ ...emptyCheckpoint(p.slot), snapshot: 'RUNNING', snapshotConsistentLsn: lsn }) }],
      });
      const src = p.startSource(signalEnv(p), 'src');
      c = await collect(p, 't');
      await waitFor('30 rows', () => readCounts(c!.records).size >= 30, { timeoutMs: 90_000, describe: () => logs([src]) });
      assert.ok(hasLog(src, 'the initial snapshot did not get going: dropping the slot and taking the snapshot again'), logs([src]));
      await waitFor('the snapshot published', () => hasLog(src, 'snapshot published'), { timeoutMs: 60_000, describe: () => logs([src]) });
    } finally {
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});

describe('walrelay-source: a lost slot', () => {
  test('the slot dropped between two runs: the source exits non-zero and says what happened', async () => {
    const p = new TestPipeline('lc_lost');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t VALUES (1, 'a')`]);
      p.capture('t');
      const first = p.startSource(signalEnv(p), 'run1');
      c = await collect(p, 't');
      await p.db.query(`INSERT INTO ${q(p.schema)}.t VALUES (2, 'b')`);
      await waitFor('the streamed insert', () => c!.records.some((r) => r.value?.op === 'c'), { timeoutMs: 90_000, describe: () => logs([first]) });
      assert.equal(await first.stop(), 0);
      await p.db.query('SELECT pg_drop_replication_slot($1)', [p.slot]);
      const second = p.startSource(signalEnv(p), 'run2');
      const code = await Promise.race([second.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 90_000))]);
      assert.notEqual(code, 'still running', logs([second]));
      assert.notEqual(code, 0);
      const out = second.output();
      assert.match(out, new RegExp(`replication slot ${p.slot} is gone`));
      assert.match(out, /walrelay created it at \d{4}-\d\d-\d\dT/);
      assert.match(out, /Options: \(1\)/);
      const slots = await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot]);
      assert.equal(slots.rows.length, 0, 'no new slot was created behind the operator’s back');
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test('slotFailover: true on a server older than 17 is refused at start, naming the version, and creates no slot', async () => {
    const p = new TestPipeline('lc_fo');
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY)`]);
      p.capture('t');
      const v = Number((await p.db.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v);
      const proc = p.startSource({ WALRELAY_SLOT_FAILOVER: 'true' }, 'failover');
      const code = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 90_000))]);
      if (v >= 170000) {
        // A 17+ server without synchronized_standby_slots is refused by the preflight.
        assert.notEqual(code, 0);
        assert.match(proc.output(), /synchronized_standby_slots/);
      } else {
        assert.notEqual(code, 'still running', logs([proc]));
        assert.notEqual(code, 0);
        assert.match(proc.output(), new RegExp(`PostgreSQL 17 or later; the server is ${Math.floor(v / 10000)}\\.`));
      }
      assert.equal((await p.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [p.slot])).rows.length, 0);
    } finally {
      await p.cleanup();
    }
  });

  test('onSlotLost takes fail or resync, and resync is refused with format debezium, naming the setting', async () => {
    const p = new TestPipeline('lc_mode');
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY)`]);
      const bogus = p.startSource({ WALRELAY_ON_SLOT_LOST: 'recreate' }, 'bogus');
      assert.equal(await bogus.exited, 2);
      assert.match(bogus.output(), /WALRELAY_ON_SLOT_LOST/);
      const dbz = p.startSource({ WALRELAY_ON_SLOT_LOST: 'resync', WALRELAY_FORMAT: 'debezium' }, 'resync-debezium');
      assert.equal(await dbz.exited, 2);
      assert.match(dbz.output(), /onSlotLost: resync truncates each table through a marker on every partition/);
    } finally {
      await p.cleanup();
    }
  });
});

describe('walrelay-source: incremental snapshots', () => {
  test('a table that joins the publication later gets all its rows (100 existing + 1 new)', async () => {
    const p = new TestPipeline('lc_new');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.first (id int8 PRIMARY KEY)`, `INSERT INTO ${s}.first VALUES (1)`]);
      p.capture('first');
      const src = p.startSource(signalEnv(p), 'src');
      const first = await collect(p, 'first');
      await waitFor('the first snapshot', () => first.records.length >= 1, { timeoutMs: 90_000, describe: () => logs([src]) });
      await first.stop();
      await p.db.query(`CREATE TABLE ${q(p.schema)}.later (id int8 PRIMARY KEY, v text)`);
      await p.db.query(`INSERT INTO ${q(p.schema)}.later SELECT g, 'x' || g FROM generate_series(1, 100) g`);
      await p.db.query(`ALTER PUBLICATION ${q(p.publication)} ADD TABLE ${q(p.schema)}.later`);
      await p.db.query(`INSERT INTO ${q(p.schema)}.later VALUES (101, 'new')`);
      c = await collect(p, 'later');
      await waitFor('101 rows of the later table', () => fold(c!.records).size >= 101, { timeoutMs: 90_000, describe: () => logs([src]) });
      const state = fold(c.records);
      assert.equal(state.size, 101);
      assert.equal(state.get(keyText({ id: 101n }))?.v, 'new');
      const reads = c.records.filter((r) => r.value?.op === 'r');
      assert.ok(reads.length >= 100, 'existing rows came as op r');
      assert.ok(reads.every((r) => r.value!.source.snapshot === 'incremental'));
      assert.ok(hasLog(src, 'tables joined the publication: queueing an incremental snapshot of each'));
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test('a signalled snapshot in chunks (composite text key) under concurrent updates and deletes ends equal to PostgreSQL', async () => {
    const p = new TestPipeline('lc_sig');
    let c: TopicCollector | undefined;
    const writer = new pg.Client({ connectionString: PG_URL });
    try {
      await p.setup((s) => [
        `CREATE TABLE ${s}.t (k text, n int4, v int8 NOT NULL, PRIMARY KEY (k, n))`,
        `INSERT INTO ${s}.t SELECT 'key-' || (g % 37) || 'é', g, 0 FROM generate_series(1, 3000) g`,
      ]);
      p.capture('t');
      const src = p.startSource({ ...signalEnv(p), WALRELAY_SNAPSHOT: 'never', WALRELAY_SNAPSHOT_CHUNK_SIZE: '100' }, 'src');
      await waitFor('streaming', () => hasLog(src, 'starting replication'), { timeoutMs: 90_000, describe: () => logs([src]) });
      await writer.connect();
      let stop = false;
      let writes = 0;
      const load = (async () => {
        while (!stop) {
          const n = 1 + Math.floor(Math.random() * 3000);
          if (Math.random() < 0.2) await writer.query(`DELETE FROM ${q(p.schema)}.t WHERE n = $1`, [n]);
          else await writer.query(`UPDATE ${q(p.schema)}.t SET v = v + 1 WHERE n = $1`, [n]);
          writes++;
        }
      })();
      const signalClient = new pg.Client({ connectionString: PG_URL });
      await signalClient.connect();
      await insertSignal(signalClient, { schema: p.schema, table: 'walrelay_signals' }, { type: 'execute-snapshot', tables: [`"${p.schema}".t`] });
      await signalClient.end();
      await waitFor('the incremental snapshot to finish', () => hasLog(src, 'incremental snapshot of the table finished'), { timeoutMs: 180_000, describe: () => logs([src]) });
      stop = true;
      await load;
      await writer.query(`INSERT INTO ${q(p.schema)}.t VALUES ('end', 0, 0)`);
      c = await collect(p, 't');
      await waitFor('the marker insert', () => c!.records.some((r) => r.value?.op === 'c' && (r.value.after as { k: string }).k === 'end'), { timeoutMs: 90_000, describe: () => logs([src]) });
      const expected = new Map<string, string>();
      for (const r of (await writer.query(`SELECT k, n, v FROM ${q(p.schema)}.t`)).rows) expected.set(keyText({ k: r.k, n: r.n }), String(r.v));
      const state = fold(c.records);
      const actual = new Map([...state].map(([k, v]) => [k, String(v.v)]));
      const diff = [...expected].filter(([k, v]) => actual.get(k) !== v).slice(0, 10);
      const extra = [...actual.keys()].filter((k) => !expected.has(k)).slice(0, 10);
      assert.deepEqual({ diff, extra }, { diff: [], extra: [] }, `latest image per key equals PostgreSQL (${writes} concurrent writes)`);
      assert.ok(writes > 50, `the writer ran during the snapshot (${writes} writes)`);
      const chunks = logLines(src).filter((l) => l.msg === 'incremental snapshot of the table finished');
      assert.equal(chunks.length, 1);
      const reads = readCounts(c.records);
      assert.ok([...reads.values()].every((n) => n === 1), 'a key read at most once');
    } finally {
      await writer.end().catch(() => undefined);
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });

  test('kill -9 in the middle of an incremental snapshot: the restart continues with the next chunk and ends exact', async () => {
    const p = new TestPipeline('lc_kill');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t SELECT g, md5(g::text) FROM generate_series(1, 20000) g`]);
      p.capture('t');
      const env = { ...signalEnv(p), WALRELAY_SNAPSHOT: 'never', WALRELAY_SNAPSHOT_CHUNK_SIZE: '200' };
      const first = p.startSource(env, 'first');
      await waitFor('streaming', () => hasLog(first, 'starting replication'), { timeoutMs: 90_000, describe: () => logs([first]) });
      // The CLI subcommand's module: inserts the signal the slot carries.
      const cliEnv = { ...p.sourceEnv(env) };
      const printed: string[] = [];
      assert.equal(await runSnapshotCommand([`"${p.schema}".t`], cliEnv, (l) => printed.push(l)), 0, printed.join('\n'));
      assert.match(printed[0]!, /"type":"execute-snapshot"/);
      c = await collect(p, 't');
      await waitFor('part of the snapshot', () => c!.records.length >= 3000, { timeoutMs: 120_000, intervalMs: 20, describe: () => logs([first]) });
      first.kill('SIGKILL');
      await first.exited;
      assert.ok(!hasLog(first, 'incremental snapshot of the table finished'), 'killed before the end');
      // The progress is in the Kafka checkpoint: --list shows the table and the last key of the last finished chunk.
      const listed: string[] = [];
      assert.equal(await runSnapshotCommand(['--list'], cliEnv, (l) => listed.push(l)), 0, listed.join('\n'));
      const inProgress = (JSON.parse(listed[0]!) as { snapshots: { table: string; lastKey: string | null; rows: number }[] }).snapshots;
      assert.equal(inProgress.length, 1, listed[0]);
      assert.equal(inProgress[0]!.table, `${p.schema}.t`);
      assert.ok(inProgress[0]!.rows >= 200 && inProgress[0]!.rows % 200 === 0, `whole chunks done: ${listed[0]}`);
      assert.deepEqual(JSON.parse(inProgress[0]!.lastKey!), [String(inProgress[0]!.rows)], 'last key = last row of the last finished chunk');
      const second = p.startSource(env, 'second');
      await waitFor('the snapshot to finish', () => hasLog(second, 'incremental snapshot of the table finished'), { timeoutMs: 180_000, describe: () => logs([second]) });
      const resumed = logLines(second).find((l) => l.msg === 'incremental snapshot of the table: resuming after the last key published');
      assert.ok(resumed, `the restart resumed rather than starting over\n${logs([second])}`);
      assert.equal(String(resumed.afterKey), inProgress[0]!.lastKey, 'it continued after the last finished chunk, not from the first');
      await waitFor('20000 rows', () => fold(c!.records).size >= 20000, { timeoutMs: 60_000 });
      const reads = readCounts(c.records);
      assert.equal(reads.size, 20000);
      assert.ok([...reads.values()].every((n) => n === 1), 'every row read exactly once across the kill');
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});

describe('walrelay-source: cancelling an incremental snapshot', () => {
  test('snapshot --stop cancels it: the checkpoint lists none, chunks stop, streaming goes on', async () => {
    const p = new TestPipeline('lc_stop');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.t (id int8 PRIMARY KEY, v text)`, `INSERT INTO ${s}.t SELECT g, 'x' FROM generate_series(1, 30000) g`]);
      p.capture('t');
      const env = { ...signalEnv(p), WALRELAY_SNAPSHOT: 'never', WALRELAY_SNAPSHOT_CHUNK_SIZE: '100' };
      const src = p.startSource(env, 'src');
      await waitFor('streaming', () => hasLog(src, 'starting replication'), { timeoutMs: 90_000, describe: () => logs([src]) });
      const cliEnv = p.sourceEnv(env);
      const out: string[] = [];
      assert.equal(await runSnapshotCommand([`"${p.schema}".t`], cliEnv, (l) => out.push(l)), 0, out.join('\n'));
      c = await collect(p, 't');
      await waitFor('some chunks', () => c!.records.length >= 500, { timeoutMs: 90_000, describe: () => logs([src]) });
      assert.equal(await runSnapshotCommand(['--stop', `"${p.schema}".t`], cliEnv, (l) => out.push(l)), 0, out.join('\n'));
      await waitFor('the cancel', () => hasLog(src, 'incremental snapshot cancelled'), { timeoutMs: 60_000, describe: () => logs([src]) });
      await waitFor('the checkpoint to list no snapshot', async () => {
        const listed: string[] = [];
        await runSnapshotCommand(['--list'], cliEnv, (l) => listed.push(l));
        return (JSON.parse(listed[0]!) as { snapshots: unknown[] }).snapshots.length === 0;
      }, { timeoutMs: 60_000 });
      await p.db.query(`UPDATE ${q(p.schema)}.t SET v = 'after' WHERE id = 30000`);
      await waitFor('the streamed update', () => c!.records.some((r) => r.value?.op === 'u'), { timeoutMs: 60_000, describe: () => logs([src]) });
      const reads = c.records.filter((r) => r.value?.op === 'r').length;
      assert.ok(reads < 30000, `the snapshot stopped early (${reads} rows read)`);
      assert.ok(!hasLog(src, 'incremental snapshot of the table finished'));
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});

describe('walrelay-source: snapshots read what the publication publishes', () => {
  test('a column list and a row filter are honoured by the initial and the incremental snapshot', async () => {
    const p = new TestPipeline('lc_pub');
    let c: TopicCollector | undefined;
    try {
      await p.setup((s) => [
        `CREATE TABLE ${s}.people (id int8 PRIMARY KEY, name text, ssn text, region text)`,
        `INSERT INTO ${s}.people SELECT g, 'n' || g, 'secret-' || g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 40) g`,
        `CREATE TABLE ${s}.walrelay_signals (id bigserial PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now())`,
      ]);
      await p.db.query(
        `CREATE PUBLICATION ${q(p.publication)} FOR TABLE ${q(p.schema)}.people (id, name, region) WHERE (region = 'eu'), ${q(p.schema)}.walrelay_signals`,
      );
      const src = p.startSource(signalEnv(p), 'src');
      c = await collect(p, 'people');
      await waitFor('20 rows', () => c!.records.length >= 20, { timeoutMs: 90_000, describe: () => logs([src]) });
      const sc = new pg.Client({ connectionString: PG_URL });
      await sc.connect();
      await insertSignal(sc, { schema: p.schema, table: 'walrelay_signals' }, { type: 'execute-snapshot', tables: [`"${p.schema}".people`], condition: 'id <= 10' });
      await sc.end();
      await waitFor('the incremental snapshot', () => c!.records.some((r) => r.value?.source.snapshot === 'incremental'), { timeoutMs: 90_000, describe: () => logs([src]) });
      await waitFor('its end', () => hasLog(src, 'incremental snapshot of the table finished'), { timeoutMs: 60_000 });
      const initial = c.records.filter((r) => r.value?.source.snapshot === 'true');
      const incremental = c.records.filter((r) => r.value?.source.snapshot === 'incremental');
      assert.equal(initial.length, 20, 'the initial snapshot read only the rows of the row filter');
      assert.ok(initial.every((r) => (r.value!.after as { region: string }).region === 'eu'));
      assert.deepEqual(
        incremental.map((r) => Number((r.value!.after as { id: bigint }).id)).sort((a, b) => a - b),
        [2, 4, 6, 8, 10],
        'the incremental snapshot: row filter and condition',
      );
      for (const r of [...initial, ...incremental]) {
        const after = r.value!.after as Record<string, unknown>;
        assert.ok(!('ssn' in after), 'the excluded column is not in the record');
        assert.ok(!JSON.stringify(after, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes('secret'), 'no excluded value leaks');
      }
    } finally {
      await c?.stop().catch(() => undefined);
      await p.cleanup();
    }
  });
});

describe('walrelay-source → walrelay-sink-sqlite: a table joining the publication mid-run', () => {
  test('20,000 rows under concurrent updates and deletes, the source killed -9 during its incremental snapshot: the target equals PostgreSQL', async () => {
    const p = new TestPipeline('lc_e2e');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-')), 'target.sqlite');
    const writer = new pg.Client({ connectionString: PG_URL });
    let stop = false;
    let writes = 0;
    let load: Promise<void> | undefined;
    try {
      await p.setup((s) => [`CREATE TABLE ${s}.first (id int8 PRIMARY KEY)`, `INSERT INTO ${s}.first VALUES (1)`]);
      p.capture('first');
      // 200 chunks: long enough that the kill below lands inside the snapshot (20 chunks of 250
      // rows took 0.4 s on a quiet machine, and the kill came after the snapshot had finished).
      const env = { ...signalEnv(p), WALRELAY_SNAPSHOT_CHUNK_SIZE: '100' };
      const first = p.startSource(env, 'src-0');
      p.startSink('sink-sqlite', file);
      await p.waitConsistent('first', sqliteRows(file, 'first'));
      await p.db.query(`CREATE TABLE ${q(p.schema)}.later (id int8 PRIMARY KEY, v int8 NOT NULL, note text)`);
      await p.db.query(`INSERT INTO ${q(p.schema)}.later SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g`);
      await writer.connect();
      load = (async () => {
        while (!stop) {
          const id = 1 + Math.floor(Math.random() * 20_200);
          const r = Math.random();
          if (r < 0.15) await writer.query(`DELETE FROM ${q(p.schema)}.later WHERE id = $1`, [id]);
          else if (r < 0.25) await writer.query(`INSERT INTO ${q(p.schema)}.later VALUES ($1, 0, 'new') ON CONFLICT (id) DO NOTHING`, [id]);
          else await writer.query(`UPDATE ${q(p.schema)}.later SET v = v + 1 WHERE id = $1`, [id]);
          writes++;
        }
      })();
      await p.db.query(`ALTER PUBLICATION ${q(p.publication)} ADD TABLE ${q(p.schema)}.later`);
      await waitFor('chunks of the later table', () => logLines(first).some((l) => l.msg === 'incremental snapshot of the table: reading from the first key'), { timeoutMs: 90_000, describe: () => logs([first]) });
      const c = await collect(p, 'later');
      await waitFor('some chunks published', () => c.records.filter((r) => r.value?.op === 'r').length >= 1000, { timeoutMs: 90_000, intervalMs: 20, describe: () => logs([first]) });
      await c.stop();
      first.kill('SIGKILL');
      await first.exited;
      // The premise: the kill came while the snapshot was still reading.
      assert.ok(!hasLog(first, 'incremental snapshot of the table finished'), 'the first source was killed before its incremental snapshot finished');
      const second = p.startSource(env, 'src-1');
      await waitFor('the resumed snapshot to finish', () => hasLog(second, 'incremental snapshot of the table finished'), { timeoutMs: 180_000, describe: () => logs([second]) });
      assert.ok(hasLog(second, 'incremental snapshot of the table: resuming after the last key published'), 'resumed after the kill');
      stop = true;
      await load;
      assert.ok(writes > 100, `writes went on during the snapshot and the kill (${writes})`);
      const r = await p.waitConsistent('later', sqliteRows(file, 'later'), 180_000);
      assert.ok(r, 'the target equals PostgreSQL');
    } finally {
      stop = true;
      await load?.catch(() => undefined);
      await writer.end().catch(() => undefined);
      await p.cleanup();
    }
  });
});
