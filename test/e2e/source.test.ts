import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import kafkajs from 'kafkajs';
import { checkpointTopic, tableTopic } from '@walrelay/core';
import { uniqueName, KAFKA_BROKERS, PG_URL, REGISTRY_URL } from '../support/env.js';
import { dropPgArtifacts, pgConnect, q } from '../support/postgres.js';
import { startProcess, type RunningProcess } from '../support/processes.js';
import { testKafka, TopicCollector } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';

const { ConfigResourceTypes } = kafkajs;

/**
 * walrelay-source against real PostgreSQL, Kafka and the registry: snapshot, then
 * streaming of insert/update/delete/truncate, TOAST, key changes, schema evolution,
 * read back by a read_committed consumer through the registry.
 */
describe('walrelay-source end to end', () => {
  const id = uniqueName('src');
  const schema = `${id}_s`;
  const slot = `${id}_slot`;
  const publication = `${id}_pub`;
  const prefix = id;
  const topic = tableTopic(prefix, schema, 'items');
  let db: pg.Client;
  let source: RunningProcess | undefined;
  let collector: TopicCollector;
  const env = {
    WALRELAY_PG_URL: PG_URL,
    WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    WALRELAY_SLOT: slot,
    WALRELAY_PUBLICATION: publication,
    WALRELAY_TOPIC_PREFIX: prefix,
    WALRELAY_TABLES: `${schema}.items`,
    WALRELAY_TX_MAX_DELAY_MS: '20',
  };

  before(async () => {
    db = await pgConnect();
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TYPE ${q(schema)}.mood AS ENUM ('sad', 'ok', 'happy')`);
    await db.query(`CREATE TABLE ${q(schema)}.items (
      id int8 PRIMARY KEY,
      name text,
      price numeric(12,3),
      ratio float8,
      flag bool,
      born date,
      at timestamptz,
      local timestamp(6),
      tags text[],
      doc jsonb,
      uid uuid,
      bin bytea,
      mood ${q(schema)}.mood,
      big text
    )`);
    await db.query(`INSERT INTO ${q(schema)}.items (id, name, price, ratio, flag, born, at, local, tags, doc, uid, bin, mood)
      VALUES (1, 'snap one', 12.345, 0.5, true, '2024-02-29', '2024-01-02 03:04:05.123456+00', '1999-12-31 23:59:59.999999',
              '{a,"b c",NULL}', '{"k": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', 'happy'),
             (2, 'snap two', -0.001, -1e300, false, '0044-03-15 BC', 'infinity', '2000-01-01', '{}', 'null', NULL, '', 'sad')`);
    collector = new TopicCollector([topic]);
  });

  after(async () => {
    await source?.stop();
    await collector?.stop().catch(() => undefined);
    await dropPgArtifacts(db, { slot, publication, schema });
    await db.end();
  });

  test('snapshot emits op r for existing rows with faithful values', async () => {
    source = startProcess('source', env, 'source-e2e');
    await waitFor('the topic to exist', async () => {
      try {
        await collector.start();
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000, describe: () => source!.output().slice(-3000) });
    const records = await collector.waitForCount(2, 60_000);
    const snap = records.map((r) => r.value!).sort((a, b) => Number((a.after!.id as bigint) - (b.after!.id as bigint)));
    assert.deepEqual(snap.map((v) => v.op), ['r', 'r']);
    assert.equal(snap[0]!.source.snapshot, 'true');
    const one = snap[0]!.after!;
    assert.equal(one.id, 1n);
    assert.equal(one.name, 'snap one');
    assert.equal(one.price, '12.345');
    assert.equal(one.ratio, 0.5);
    assert.equal(one.flag, true);
    assert.equal(one.born, 19782); // days since 1970-01-01
    assert.equal(one.at, 1704164645123456n);
    assert.equal(one.local, 946684799999999n);
    assert.deepEqual(one.tags, ['a', 'b c', null]);
    assert.deepEqual(JSON.parse(one.doc as string), { k: [1, 2] });
    assert.equal(one.uid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    assert.deepEqual([...(one.bin as Buffer)], [0, 255, 16]);
    assert.equal(one.mood, 'happy');
    const two = snap[1]!.after!;
    assert.equal(two.price, '-0.001');
    assert.equal(two.ratio, -1e300);
    assert.equal(two.at, 9223372036854775807n); // infinity
    assert.deepEqual(two.tags, []);
    assert.ok((two.born as number) < -700000);
  });

  test('streams insert, update, delete (+ tombstone), key change and truncate in commit order', async () => {
    const before = collector.records.length;
    await db.query(`INSERT INTO ${q(schema)}.items (id, name, price) VALUES (3, 'three', 3)`);
    await db.query(`UPDATE ${q(schema)}.items SET name = 'two!' WHERE id = 2`);
    await db.query(`DELETE FROM ${q(schema)}.items WHERE id = 1`);
    await db.query(`UPDATE ${q(schema)}.items SET id = 30 WHERE id = 3`);
    // insert 3 + update 2 + delete 1 (+tombstone) + key change (delete+tombstone+create)
    const records = (await collector.waitForCount(before + 7, 60_000)).slice(before);
    // Partitions interleave; within a key (one partition) the order is the commit order.
    const byKey = new Map<string, string[]>();
    for (const r of records) {
      const k = String((r.key as { id: bigint }).id);
      byKey.set(k, [...(byKey.get(k) ?? []), r.value?.op ?? 'tombstone']);
    }
    assert.deepEqual(Object.fromEntries(byKey), { '1': ['d', 'tombstone'], '2': ['u'], '3': ['c', 'd', 'tombstone'], '30': ['c'] });
    const changes = records.filter((r) => r.value).map((r) => r.value!);
    // Commit order across keys is in the source block: (commit LSN, position in the transaction).
    const sorted = [...changes].sort((a, b) => (a.source.commit_lsn! < b.source.commit_lsn! ? -1 : a.source.commit_lsn! > b.source.commit_lsn! ? 1 : a.source.tx_seq !== b.source.tx_seq ? Number(a.source.tx_seq! - b.source.tx_seq!) : a.op === 'd' ? -1 : 1));
    assert.deepEqual(sorted.map((c) => `${c.op}${String((c.after ?? c.before)!.id)}`), ['c3', 'u2', 'd1', 'd3', 'c30']);
    const upd = changes.find((c) => c.op === 'u')!;
    assert.equal(upd.after!.name, 'two!');
    assert.equal(upd.source.table, 'items');
    assert.equal(upd.source.schema, schema);
    assert.ok(typeof upd.source.lsn === 'bigint' && upd.source.lsn > 0n);
    assert.ok(typeof upd.source.txId === 'bigint');
    // Debezium's sequence: [last committed LSN, this change's LSN] as decimal strings; the first is
    // an earlier transaction's commit, so within the sorted changes it never goes back.
    for (const c of changes) {
      const seq = JSON.parse(c.source.sequence!) as unknown;
      assert.ok(Array.isArray(seq) && seq.length === 2 && seq.every((x) => typeof x === 'string' && /^\d+$/.test(x)), `sequence ${c.source.sequence}`);
      assert.equal(BigInt(seq[1] as string), c.source.lsn);
      assert.ok(BigInt(seq[0] as string) < c.source.commit_lsn!, 'the last committed LSN precedes this transaction');
    }
    const committed = sorted.map((c) => BigInt((JSON.parse(c.source.sequence!) as string[])[0]!));
    assert.deepEqual(committed, [...committed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const del1 = records.filter((r) => (r.key as { id: bigint }).id === 1n);
    assert.equal(del1[0]!.partition, del1[1]!.partition);

    const beforeTruncate = collector.records.length;
    await db.query(`TRUNCATE ${q(schema)}.items`);
    const markers = (await collector.waitForCount(beforeTruncate + 3, 60_000)).slice(beforeTruncate);
    assert.deepEqual(markers.map((r) => r.value?.op), ['t', 't', 't']);
    assert.deepEqual(new Set(markers.map((r) => r.partition)), new Set([0, 1, 2]));
  });

  test('an update that leaves a TOASTed value unchanged lists it instead of sending null', async () => {
    // Random text does not compress below the TOAST threshold: it is stored out of line.
    const big = (await db.query('SELECT string_agg(md5(random()::text), \'\') AS v FROM generate_series(1, 3000)')).rows[0].v as string;
    await db.query(`INSERT INTO ${q(schema)}.items (id, name, big) VALUES (7, 'toast', $1)`, [big]);
    const start = collector.records.length;
    await db.query(`UPDATE ${q(schema)}.items SET name = 'toast2' WHERE id = 7`);
    await collector.waitForCount(start + 1);
    const upd = await waitFor('the update of row 7', () => collector.records.find((r) => r.value?.op === 'u' && r.value.after?.id === 7n));
    assert.equal(upd!.value!.after!.name, 'toast2');
    assert.deepEqual(upd!.value!.unchanged_toast, ['big']);
    assert.equal(upd!.value!.after!.big, null);
    const ins = collector.records.find((r) => r.value?.op === 'c' && r.value.after?.id === 7n);
    assert.equal(ins?.value?.after?.big, big);
  });

  test('a new column becomes a new, backward-compatible schema version', async () => {
    await db.query(`ALTER TABLE ${q(schema)}.items ADD COLUMN extra int4 DEFAULT 5`);
    const start = collector.records.length;
    await db.query(`INSERT INTO ${q(schema)}.items (id, name, extra) VALUES (8, 'evolved', 42)`);
    await collector.waitForCount(start + 1);
    const ins = await waitFor('the insert of row 8', () => collector.records.find((r) => r.value?.op === 'c' && r.value.after?.id === 8n));
    assert.equal(ins.value!.after!.extra, 42);
    const res = await fetch(`${REGISTRY_URL}/subjects/${encodeURIComponent(`${topic}-value`)}/versions`);
    const versions = (await res.json()) as number[];
    assert.ok(versions.length >= 2, `expected 2+ versions, got ${JSON.stringify(versions)}`);
  });

  test('topics are created compacted: table topics with a 7-day compaction lag, the checkpoint topic with hourly segments', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [topic, checkpointTopic(prefix)].map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy', 'min.compaction.lag.ms', 'segment.ms'] })),
      });
      const config = (name: string) => Object.fromEntries((described.resources.find((r) => r.resourceName === name)?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
      assert.deepEqual(config(topic), { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '604800000', 'segment.ms': '604800000' });
      assert.deepEqual(config(checkpointTopic(prefix)), { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': '3600000' });
    } finally {
      await admin.disconnect();
    }
  });

  test('SIGTERM ends the source with exit code 0', async () => {
    const code = await source!.stop();
    assert.equal(code, 0, source!.output().slice(-2000));
    source = undefined;
  });
});

describe('walrelay-source: an incompatible column change', () => {
  const id = uniqueName('srcinc');
  const schema = `${id}_s`;
  const env = {
    WALRELAY_PG_URL: PG_URL,
    WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
    WALRELAY_SLOT: `${id}_slot`,
    WALRELAY_PUBLICATION: `${id}_pub`,
    WALRELAY_TOPIC_PREFIX: id,
    WALRELAY_TABLES: `${schema}.t`,
    WALRELAY_TX_MAX_DELAY_MS: '20',
  };
  let db: pg.Client;
  let source: RunningProcess | undefined;

  before(async () => {
    db = await pgConnect();
    await db.query(`CREATE SCHEMA ${q(schema)}`);
    await db.query(`CREATE TABLE ${q(schema)}.t (id int4 PRIMARY KEY, v text)`);
    await db.query(`INSERT INTO ${q(schema)}.t VALUES (1, 'abc')`);
  });

  after(async () => {
    await source?.stop();
    await dropPgArtifacts(db, { slot: env.WALRELAY_SLOT, publication: env.WALRELAY_PUBLICATION, schema });
    await db.end();
  });

  test('text → int4 stops the source before anything is registered, naming the table, the column and both types', async () => {
    source = startProcess('source', env, 'source-incompatible');
    await waitFor('the snapshot to be published', () => source!.output().includes('snapshot published'), { timeoutMs: 60_000, describe: () => source!.output().slice(-2000) });
    await db.query(`ALTER TABLE ${q(schema)}.t ALTER COLUMN v TYPE int4 USING length(v)`);
    await db.query(`INSERT INTO ${q(schema)}.t VALUES (2, 7)`);
    const code = await Promise.race([source.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 60_000))]);
    assert.notEqual(code, 'running', 'the source should stop on an incompatible schema change');
    assert.equal(code, 1);
    assert.match(source.output(), new RegExp(`table ${schema}\\.t column v changed type from text to int4, which the targets cannot follow exactly`));
    source = undefined;
  });
});
