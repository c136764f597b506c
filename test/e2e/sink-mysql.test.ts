import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { deadLetterTopic, tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { TopicCollector, testKafka } from '../support/kafka.js';
import { waitFor } from '../support/wait.js';

/**
 * Values PostgreSQL has and MySQL cannot store (BC dates, ±infinity, NaN floats): with
 * WALRELAY_ON_ERROR=dlq each such record goes to `<prefix>.__walrelay_dlq.mysql` with the reason and
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
