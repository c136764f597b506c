import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { deadLetterTopic, tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows, sqliteRows, type TargetRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { TopicCollector, testKafka } from '../support/kafka.js';
import { q } from '../support/postgres.js';
import { REGISTRY_URL } from '../support/env.js';
import { waitFor } from '../support/wait.js';

/**
 * Per-table isolation against real targets (PostgreSQL → source → Kafka → sink → SQLite and
 * MariaDB): tables the target refuses (a pre-existing table without the source's key or
 * with another key, two source tables on one target name, and on MySQL a column name
 * outside the Unicode BMP) stop only themselves. Under onError dlq their records go to the
 * dead-letter topic with the reason while the good table is applied row for row; under
 * fail the sink exits naming the table and the reason.
 */
for (const kind of ['sqlite', 'mysql'] as const) {
  describe(`per-table isolation (${kind})`, () => {
    const p = new TestPipeline(`iso${kind}`);
    const second = `${p.schema}_b`;
    const mysqlDb = new MysqlTestDatabase(p.id);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-iso-')), 'target.sqlite');
    const url = kind === 'sqlite' ? file : mysqlDb.url;
    const rows = (t: string): TargetRows => (kind === 'sqlite' ? sqliteRows(file, t) : mysqlRows(mysqlDb.url, t));
    const refused = new Map<string, RegExp>([
      ['nokey', /target table nokey has no primary key; walrelay needs PRIMARY KEY \(id\)/],
      ['otherkey', /target table otherkey has PRIMARY KEY \(v\), but the source's key is \(id\)/],
      ['dup', /both map to target table dup: name one of them in tableNames/],
      ...(kind === 'mysql' ? ([['bmp', /outside the Unicode BMP/]] as const) : []),
    ]);
    const targetSql = async (sql: string): Promise<void> => {
      if (kind === 'sqlite') {
        const db = new Database(file);
        db.exec(sql);
        db.close();
      } else await mysqlDb.query(sql);
    };
    const tableExists = async (name: string): Promise<boolean> => {
      if (kind === 'sqlite') {
        const db = new Database(file, { readonly: true });
        const found = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name);
        db.close();
        return found !== undefined;
      }
      return (await mysqlDb.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [name])).length > 0;
    };

    before(async () => {
      if (kind === 'mysql') await mysqlDb.create();
      // Tables the operator created before the sink ran.
      await targetSql('CREATE TABLE nokey (id INTEGER NOT NULL, v TEXT NULL)');
      await targetSql(kind === 'sqlite' ? 'CREATE TABLE otherkey (id INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (v))' : 'CREATE TABLE otherkey (id INT NOT NULL, v VARCHAR(50) NOT NULL, PRIMARY KEY (v))');
      await p.setup((s) => [
        `CREATE TABLE ${s}.good (id int4 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.nokey (id int4 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.otherkey (id int4 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.dup (id int4 PRIMARY KEY, v text)`,
        `CREATE SCHEMA ${q(second)}`,
        `CREATE TABLE ${q(second)}.dup (id int4 PRIMARY KEY, v text)`,
        `CREATE TABLE ${s}.bmp (id int4 PRIMARY KEY, "w🦭" text)`,
        ...['good', 'nokey', 'otherkey', 'dup'].map((t) => `INSERT INTO ${s}.${t} SELECT g, 'snap ' || g FROM generate_series(1, 5) g`),
        `INSERT INTO ${q(second)}.dup SELECT g, 'other ' || g FROM generate_series(1, 5) g`,
        `INSERT INTO ${s}.bmp SELECT g, 'seal ' || g FROM generate_series(1, 5) g`,
      ]);
      const tables = ['good', 'nokey', 'otherkey', 'dup', 'bmp'].map((t) => `${q(p.schema)}.${t}`);
      p.startSource({ WALRELAY_TABLES: [...tables, `${q(second)}.dup`].join(',') });
      // Both dup tables' schemas are in the registry before any sink starts, so the clash is
      // seen at subscription and neither takes the name (when one of them already writes it,
      // it keeps it: the runtime tests cover that order).
      for (const t of [tableTopic(p.prefix, p.schema, 'dup'), tableTopic(p.prefix, second, 'dup')]) {
        await waitFor(`the value schema of ${t}`, async () => (await fetch(`${REGISTRY_URL}/subjects/${encodeURIComponent(`${t}-value`)}/versions`)).ok, { timeoutMs: 90_000 });
      }
    });

    after(async () => {
      await p.cleanup();
      await p.db?.query(`DROP SCHEMA IF EXISTS ${q(second)} CASCADE`).catch(() => undefined);
      if (kind === 'mysql') await mysqlDb.drop();
    });

    test('onError dlq: refused tables go to the dead-letter topic with the reason; the good table is applied and keeps going', async () => {
      const sink = p.startSink(`sink-${kind}`, url, { WALRELAY_ON_ERROR: 'dlq' }, 'sink-dlq');
      await p.waitConsistent('good', rows('good'));
      const dlqTopic = deadLetterTopic(p.prefix, kind);
      await waitFor('the dead-letter topic', async () => {
        const admin = testKafka().admin();
        await admin.connect();
        try {
          return (await admin.listTopics()).includes(dlqTopic);
        } finally {
          await admin.disconnect();
        }
      });
      const dlq = new TopicCollector([dlqTopic]);
      await dlq.start();
      try {
        // 5 snapshot rows per refused source table (dup twice).
        const expected = [...refused.keys()].reduce((n, t) => n + (t === 'dup' ? 10 : 5), 0);
        const records = await dlq.waitForCount(expected, 120_000, () => sink.output().slice(-4000));
        for (const [table, reason] of refused) {
          const mine = records.filter((r) => r.headers['walrelay.table'] === table);
          assert.equal(mine.length, table === 'dup' ? 10 : 5, `${table}: ${JSON.stringify(records.map((r) => r.headers))}`);
          for (const r of mine) {
            assert.equal(r.headers['walrelay.error.stage'], 'table');
            assert.match(r.headers['walrelay.error'] ?? '', reason);
          }
        }
        const dupTopics = new Set(records.filter((r) => r.headers['walrelay.table'] === 'dup').map((r) => r.headers['walrelay.topic']));
        assert.deepEqual([...dupTopics].sort(), [tableTopic(p.prefix, p.schema, 'dup'), tableTopic(p.prefix, second, 'dup')].sort());
      } finally {
        await dlq.stop();
      }
      assert.deepEqual(await rows('nokey')(), [], 'no row written into a table without the key (none duplicated)');
      assert.deepEqual(await rows('otherkey')(), []);
      assert.equal(await tableExists('dup'), false, 'neither source table took the shared name');
      if (kind === 'mysql') assert.equal(await tableExists('bmp'), false);
      // The good table goes on.
      await p.db.query(`INSERT INTO ${q(p.schema)}.good VALUES (100, 'later')`);
      await p.db.query(`UPDATE ${q(p.schema)}.nokey SET v = 'later' WHERE id = 1`);
      const r = await p.waitConsistent('good', rows('good'));
      assert.equal(r.sourceRows, 6);
      assert.equal(sink.child.exitCode, null, 'the sink kept running');
      assert.match(sink.output(), /target table refused/);
      assert.equal(await sink.stop(), 0);
    });

    test('onError fail: the sink exits non-zero naming the refused table and the reason', async () => {
      const sink = p.startSink(`sink-${kind}`, url, { WALRELAY_GROUP_ID: `${p.id}_fail` }, 'sink-fail');
      const code = await Promise.race([sink.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref())]);
      assert.notEqual(code, 'timeout', sink.output().slice(-3000));
      assert.notEqual(code, 0);
      const out = sink.output();
      assert.match(out, /"level":(60|"fatal").*target table (nokey|otherkey|dup|bmp) \(topic [^)]*\) is refused: .*onError=fail/, out.slice(-3000));
      const which = /target table (nokey|otherkey|dup|bmp) \(topic/.exec(out)![1]!;
      assert.match(out, refused.get(which)!);
    });
  });
}
