import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deadLetterTopic, tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { TopicCollector, testKafka } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';
import { startProcess } from '../support/processes.js';

/**
 * PostgreSQL → walrelay-source → Kafka → walrelay-sink-mysql → MariaDB/MySQL, all real,
 * into a database created for this run.
 */
describe('pipeline into MySQL/MariaDB', () => {
  const p = new TestPipeline('mysql');
  const target = new MysqlTestDatabase(p.id);
  const replay = new MysqlTestDatabase(`${p.id}_r`);
  const hostile = 'Order "Items" `x` [y] é;';
  const rows = (t: string) => mysqlRows(target.url, t, { exact: true });

  before(async () => {
    await target.create();
    await replay.create();
    await p.setup((s) => [
      `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
      `CREATE TABLE ${s}.types (
        id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(20), price numeric(12,3), n numeric,
        f4 float4, f8 float8, flag bool, born date, t time, at timestamptz, local timestamp, tags text[], ints int4[],
        doc jsonb, uid uuid, bin bytea, mood ${s}.mood, dur interval, big text)`,
      `CREATE TABLE ${s}.composite (a int4, b text, val text, PRIMARY KEY (a, b))`,
      `CREATE TABLE ${s}.${'"' + hostile.replace(/"/g, '""') + '"'} ("select" int4 PRIMARY KEY, "Col ""quoted""" text, "ünïcode col" text, "order" text)`,
      `INSERT INTO ${s}.types (id, name, price) VALUES (100, 'before the snapshot', 1.5)`,
    ]);
    p.capture('types', 'composite', hostile);
    p.startSource();
    p.startSink('sink-mysql', target.url);
  });

  after(async () => {
    await p.cleanup();
    await target.drop();
    await replay.drop();
  });

  test('snapshot rows arrive', async () => {
    const r = await p.waitConsistent('types', rows('types'));
    assert.equal(r.sourceRows, 1);
  });

  test('every type MySQL can hold round-trips PostgreSQL → MySQL', async () => {
    const s = `"${p.schema}"`;
    // BC dates, ±infinity and NaN floats have no MySQL form: see the dead-letter suite below.
    await p.db.query(`INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', -3.25, -2.2250738585072014e-308, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (-9223372036854775808, 32767, -2147483648, 'back\\slash '' quote', '', 999999999.999, '-0.000000000000000000001', 3.4028235e38, 5e-324, false,
       '1000-01-01', '24:00:00', '1970-01-01 00:00:00+00', '2038-01-19 03:14:08', '{}', '{NULL}', '"just a string"', NULL, NULL, 'happy', '-1 days', ''),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '[]', NULL, NULL, 'sad', '-1 days', NULL)`);
    const r = await p.waitConsistent('types', rows('types'));
    assert.equal(r.sourceRows, 5);
  });

  test('updates and deletes apply; a composite key works', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.composite SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 500) g`);
    await p.db.query(`UPDATE ${s}.composite SET val = 'updated' WHERE a % 3 = 0`);
    await p.db.query(`DELETE FROM ${s}.composite WHERE a % 5 = 0`);
    // Insert, update and delete of one key inside one transaction, and a key that changes.
    await p.db.query(`BEGIN; INSERT INTO ${s}.composite VALUES (9000, 'x', 'gone'); UPDATE ${s}.composite SET val = 'still gone' WHERE a = 9000; DELETE FROM ${s}.composite WHERE a = 9000; COMMIT;`);
    await p.db.query(`UPDATE ${s}.composite SET b = 'moved' WHERE a = 1`);
    await p.db.query(`UPDATE ${s}.types SET name = 'changed', price = 2 WHERE id = 1`);
    await p.db.query(`DELETE FROM ${s}.types WHERE id = 2`);
    const r = await p.waitConsistent('composite', rows('composite'));
    assert.equal(r.sourceRows, 400);
    await p.waitConsistent('types', rows('types'));
  });

  test('an unchanged TOAST column keeps its value in the target (also when coalesced)', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.types (id, name, big) SELECT 50, 'toast', string_agg(md5(random()::text), '') FROM generate_series(1, 3000)`);
    await p.waitConsistent('types', rows('types'));
    await p.db.query(`BEGIN; UPDATE ${s}.types SET name = 't1' WHERE id = 50; UPDATE ${s}.types SET i4 = 7 WHERE id = 50; COMMIT;`);
    await p.db.query(`UPDATE ${s}.types SET name = 't2' WHERE id = 50`);
    await p.waitConsistent('types', rows('types'));
    const [row] = await target.query<{ name: string; len: string; i4: number }>('SELECT name, CHAR_LENGTH(big) AS len, i4 FROM types WHERE id = 50');
    assert.equal(row?.name, 't2');
    assert.equal(Number(row?.len), 96_000);
    assert.equal(row?.i4, 7);
  });

  test('hostile table and column names replicate', async () => {
    const t = `"${p.schema}"."${hostile.replace(/"/g, '""')}"`;
    await p.db.query(`INSERT INTO ${t} VALUES (1, 'q"uote', 'ü', 'by'), (2, 'back\`tick', '[b]', NULL), (3, 'x', 'y', 'z')`);
    await p.db.query(`UPDATE ${t} SET "ünïcode col" = 'changed' WHERE "select" = 2`);
    await p.db.query(`DELETE FROM ${t} WHERE "select" = 3`);
    const r = await p.waitConsistent(hostile, rows(hostile));
    assert.equal(r.sourceRows, 2);
    const cols = await target.query<{ name: string }>(
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [hostile],
    );
    assert.deepEqual(cols.map((c) => c.name), ['select', 'Col "quoted"', 'ünïcode col', 'order']);
  });

  test('a new column in PostgreSQL becomes a new column in the target', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`ALTER TABLE ${s}.composite ADD COLUMN added_later int8, ADD COLUMN note varchar(30)`);
    await p.db.query(`UPDATE ${s}.composite SET added_later = a * 1000, note = 'n' || a WHERE a < 10`);
    await p.db.query(`INSERT INTO ${s}.composite VALUES (7777, 'new', 'row', 1, 'with new columns')`);
    await p.waitConsistent('composite', rows('composite'));
    const cols = await target.query<{ name: string }>(
      "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'composite'",
    );
    assert.ok(cols.some((c) => c.name === 'added_later') && cols.some((c) => c.name === 'note'));
  });

  test('truncate empties the target table', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`TRUNCATE ${s}.composite`);
    await p.db.query(`INSERT INTO ${s}.composite (a, b, val) VALUES (1, 'after', 'truncate')`);
    const r = await p.waitConsistent('composite', rows('composite'));
    assert.equal(r.sourceRows, 1);
    assert.equal(r.targetRows, 1);
  });

  test('offsets are stored in the target with the source LSN, exactly past the last record of each partition', async () => {
    const topics = ['types', 'composite', hostile].map((t) => tableTopic(p.prefix, p.schema, t));
    const lsn = BigInt((await p.db.query<{ l: string }>("SELECT (pg_current_wal_lsn() - '0/0')::text AS l")).rows[0]!.l);
    const offsets = await target.query<{ topic: string; kafka_partition: number; next_offset: string; source_lsn: string | null }>(
      'SELECT topic, kafka_partition, CAST(next_offset AS CHAR) AS next_offset, CAST(source_lsn AS CHAR) AS source_lsn FROM walrelay_offsets WHERE group_id = ?',
      [`${p.id}_group`],
    );
    const data = offsets.filter((o) => topics.includes(o.topic));
    assert.ok(data.length >= 3, JSON.stringify(offsets));
    assert.ok(data.some((o) => o.source_lsn !== null && BigInt(o.source_lsn) > 0n && BigInt(o.source_lsn) <= lsn), JSON.stringify(data));
    // Read every topic back: the stored next offset of a partition is its last record's offset + 1.
    const stored = new Map(data.map((o) => [`${o.topic}/${o.kafka_partition}`, BigInt(o.next_offset)]));
    const admin = testKafka().admin();
    await admin.connect();
    const high = new Map<string, bigint>();
    for (const topic of topics) for (const o of await admin.fetchTopicOffsets(topic)) high.set(`${topic}/${o.partition}`, BigInt(o.high));
    await admin.disconnect();
    for (const [tp, next] of stored) assert.ok(next <= (high.get(tp) ?? -1n), `${tp}: stored ${next} beyond the high watermark ${high.get(tp)}`);
    for (const topic of topics) {
      const collector = new TopicCollector([topic]);
      await collector.start();
      try {
        await waitFor(
          `every partition of ${topic} read up to the stored offsets`,
          () => {
            const last = new Map<string, bigint>();
            for (const r of collector.records) {
              const tp = `${topic}/${r.partition}`;
              if ((last.get(tp) ?? -1n) < r.offset) last.set(tp, r.offset);
            }
            for (const [tp, off] of last) {
              const next = stored.get(tp);
              if (next === undefined || off + 1n > next) throw new assert.AssertionError({ message: `${tp}: record at ${off} but the stored next offset is ${next}` });
            }
            const wanted = [...stored].filter(([tp]) => tp.startsWith(`${topic}/`));
            return wanted.every(([tp, next]) => last.get(tp) === next - 1n) || undefined;
          },
          { timeoutMs: 30_000, describe: () => `stored ${JSON.stringify([...stored].map(([k, v]) => [k, String(v)]))}` },
        );
      } finally {
        await collector.stop();
      }
    }
  });

  test('a replay into a fresh database with a new group rebuilds the same tables', async () => {
    const sink = startProcess('sink-mysql', p.sinkEnv(replay.url, { WALRELAY_GROUP_ID: `${p.id}_replay` }), `${p.id}-replay`);
    p.processes.push(sink);
    for (const t of ['types', 'composite', hostile]) await p.waitConsistent(t, mysqlRows(replay.url, t, { exact: true }));
    const code = await sink.stop();
    assert.equal(code, 0, sink.output().slice(-2000));
  });

  test('SIGTERM: the sink finishes, commits and exits 0', async () => {
    const sink = p.processes.find((x) => x.name.endsWith('sink-mysql'))!;
    const code = await sink.stop();
    assert.equal(code, 0, sink.output().slice(-2000));
    assert.match(sink.output(), /sink-mysql stopped/);
  });
});

/**
 * Values PostgreSQL has and MySQL cannot store (BC dates, ±infinity, NaN floats): with
 * WALRELAY_ON_ERROR=dlq each such record goes to `<prefix>.dlq.mysql` with the reason and
 * its origin in headers while the rest of its batch is applied; with the default `fail`
 * policy the sink stops with an error naming the table and column.
 */
describe('MySQL: values the target cannot store', () => {
  const p = new TestPipeline('mydlq');
  const target = new MysqlTestDatabase(p.id);
  const table = 'values_bad';
  const topic = () => tableTopic(p.prefix, p.schema, table);
  const bad = new Map<number, string>([
    [7, 'born'], // 0044 BC
    [14, 'at'], // infinity
    [21, 'ratio'], // NaN
    [28, 'born'], // -infinity date
  ]);

  before(async () => {
    await target.create();
    await p.setup((s) => [
      `CREATE TABLE ${s}.${table} (id int4 PRIMARY KEY, born date, at timestamptz, ratio float8, note text)`,
      `INSERT INTO ${s}.${table} VALUES (1000, '2020-01-01', now(), 1, 'snapshot')`,
    ]);
    p.capture(table);
    p.startSource();
  });

  after(async () => {
    await p.cleanup();
    await target.drop();
  });

  test('dlq policy: bad records land in the dead-letter topic with headers; the rest of the batch arrives', async () => {
    const sink = p.startSink('sink-mysql', target.url, { WALRELAY_ON_ERROR: 'dlq' }, 'sink-dlq');
    await p.waitConsistent(table, mysqlRows(target.url, table));
    const s = `"${p.schema}"`;
    // One transaction, good and bad rows interleaved: they reach the sink together.
    await p.db.query(`INSERT INTO ${s}.${table}
      SELECT g,
        CASE g WHEN 7 THEN '0044-03-15 BC'::date WHEN 28 THEN '-infinity'::date ELSE '2024-01-01'::date + g END,
        CASE g WHEN 14 THEN 'infinity'::timestamptz ELSE '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour' END,
        CASE g WHEN 21 THEN 'NaN'::float8 ELSE g / 4.0 END,
        'row ' || g
      FROM generate_series(1, 30) g`);
    const dlq = new TopicCollector([deadLetterTopic(p.prefix, 'mysql')]);
    await waitFor('the dead-letter topic to exist', async () => {
      const admin = testKafka().admin();
      await admin.connect();
      try {
        return (await admin.listTopics()).includes(deadLetterTopic(p.prefix, 'mysql'));
      } finally {
        await admin.disconnect();
      }
    });
    await dlq.start();
    try {
      const records = await dlq.waitForCount(bad.size);
      const byId = new Map(records.map((r) => [Number((r.value?.after as { id: number } | null)?.id), r]));
      assert.deepEqual([...byId.keys()].sort((a, b) => a - b), [...bad.keys()]);
      for (const [id, column] of bad) {
        const r = byId.get(id)!;
        assert.match(r.headers['walrelay.error'] ?? '', new RegExp(`${table}\\.${column}`), `id ${id}: ${JSON.stringify(r.headers)}`);
        assert.equal(r.headers['walrelay.topic'], topic());
        assert.equal(r.headers['walrelay.error.stage'], 'apply');
        assert.match(r.headers['walrelay.partition'] ?? '', /^[0-2]$/);
        assert.match(r.headers['walrelay.offset'] ?? '', /^\d+$/);
      }
      // The DLQ record is the original: reading the table topic at its partition/offset gives the same change.
      const original = new TopicCollector([topic()]);
      await original.start();
      try {
        await waitFor('the table topic read back', () => original.records.length >= 31);
        for (const [id, r] of byId) {
          const o = original.records.find((x) => x.partition === Number(r.headers['walrelay.partition']) && x.offset === BigInt(r.headers['walrelay.offset']!));
          assert.equal(Number((o?.value?.after as { id: number } | null)?.id), id);
        }
      } finally {
        await original.stop();
      }
    } finally {
      await dlq.stop();
    }
    // Every good row of that same transaction was applied, none of the bad ones.
    const ids = await waitFor('the good rows in MySQL', async () => {
      const got = (await target.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);
      return got.length === 1 + 30 - bad.size ? got : undefined;
    });
    const expected = [...Array.from({ length: 30 }, (_, i) => i + 1).filter((i) => !bad.has(i)), 1000];
    assert.deepEqual(ids, expected);
    // The sink carries on with later changes.
    await p.db.query(`UPDATE ${s}.${table} SET note = 'later' WHERE id = 1`);
    await waitFor('a later change', async () => (await target.query<{ note: string }>(`SELECT note FROM ${table} WHERE id = 1`))[0]?.note === 'later');
    assert.equal(sink.child.exitCode, null, 'the sink kept running');
    assert.match(sink.output(), /record sent to the dead-letter topic/);
    assert.equal(await sink.stop(), 0);
  });

  test('fail policy (default): the sink exits non-zero naming the table and column', async () => {
    const sink = p.startSink('sink-mysql', target.url, { WALRELAY_GROUP_ID: `${p.id}_failgroup` }, 'sink-fail');
    const code = await Promise.race([sink.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref())]);
    assert.notEqual(code, 'timeout', `the sink did not stop:\n${sink.output().slice(-3000)}`);
    assert.notEqual(code, 0);
    const out = sink.output();
    assert.match(out, new RegExp(`"level":(60|"fatal").*${table}\\.(born|at|ratio)`), out.slice(-3000));
    assert.match(out, /onError=fail/);
  });
});
