import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestPipeline } from '../support/pipeline.js';
import { mysqlRows, sqliteRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { connectAvailable, createConnector, debeziumPostgresConfig, deleteConnector, dropDebeziumArtifacts } from '../support/debezium.js';
import { waitFor } from '../support/wait.js';
import type { RunningProcess } from '../support/processes.js';

/**
 * Direction 1 of the Debezium interoperability: Debezium's PostgreSQL connector (real, in Kafka
 * Connect, Avro through Apicurio in Confluent framing) writes the topics, walrelay's sinks apply
 * them into SQLite and MariaDB, and each target equals PostgreSQL row for row — snapshot reads,
 * every type whose meaning Debezium keeps, updates that leave a TOASTed value unchanged (Debezium's
 * placeholder), deletes with tombstones, a key change and a truncate. The SQLite sink is killed
 * with SIGKILL midway and restarted: still exact.
 */
const available = await connectAvailable();

describe('Debezium PostgreSQL connector → walrelay sinks', { skip: available ? false : 'Kafka Connect with Debezium is not running (bash scripts/services.sh up debezium)' }, () => {
  const p = new TestPipeline('dbz1');
  const connector = `${p.id}_dbz`;
  const mysqlTarget = new MysqlTestDatabase(p.id);
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-dbz-'));
  const sqliteFile = path.join(dir, 'target.db');
  let sqliteSink: RunningProcess;
  const sqlite = (t: string) => sqliteRows(sqliteFile, t);
  const mysql = (t: string) => mysqlRows(mysqlTarget.url, t, { exact: true });

  before(async () => {
    await mysqlTarget.create();
    await p.setup((s) => [
      `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
      `CREATE TABLE ${s}.types (
        id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(20), price numeric(12,3), n numeric,
        f8 float8, flag bool, born date, t time, at timestamptz, local timestamp, tags text[], ints int4[],
        doc jsonb, uid uuid, bin bytea, mood ${s}.mood, big text)`,
      `CREATE TABLE ${s}.composite (a int4, b text, val text, PRIMARY KEY (a, b))`,
      `INSERT INTO ${s}.types (id, name, price, born) VALUES (100, 'before the connector', 1.5, '2020-01-01')`,
      `INSERT INTO ${s}.composite SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 200) g`,
    ]);
    await createConnector(
      connector,
      debeziumPostgresConfig({
        topicPrefix: p.prefix,
        slot: p.slot,
        publication: p.publication,
        database: 'walrelay',
        tables: [`${p.schema}.types`, `${p.schema}.composite`],
        extra: { 'skipped.operations': 'none' },
      }),
    );
    sqliteSink = p.startSink('sink-sqlite', sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    p.startSink('sink-mysql', mysqlTarget.url, { WALRELAY_GROUP_ID: `${p.id}_mysql` });
  });

  after(async () => {
    await deleteConnector(connector).catch(() => undefined);
    await Promise.all(p.processes.map((x) => x.stop(10_000)));
    if (p.db) await dropDebeziumArtifacts(p.db, p.slot, p.publication).catch(() => undefined);
    await p.cleanup();
    await mysqlTarget.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("Debezium's snapshot reads arrive in both targets", async () => {
    for (const rows of [sqlite, mysql]) {
      assert.equal((await p.waitConsistent('types', rows('types'), 180_000)).sourceRows, 1);
      assert.equal((await p.waitConsistent('composite', rows('composite'), 180_000)).sourceRows, 200);
    }
  });

  test('every type, TOAST placeholders, deletes, a key change and a truncate end equal to PostgreSQL', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', -123456789.123, '1234567890.1234567890123456789', 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, '-0.000000000000000000001', -2.2250738585072014e-308, false, '1000-01-01', '00:00:00', '1970-01-01 00:00:00+00', '2038-01-19 03:14:08', '{}', '{NULL}', '"just a string"', NULL, '', 'sad', '')`);
    await p.db.query(`INSERT INTO ${s}.types (id, name, big) SELECT 3, 'toast', string_agg(md5(g::text), '') FROM generate_series(1, 3000) g`);
    // Leaves big alone: pgoutput does not send it, Debezium writes its placeholder, the sink keeps the value.
    await p.db.query(`UPDATE ${s}.types SET name = 'toast untouched' WHERE id = 3`);
    await p.db.query(`UPDATE ${s}.types SET i4 = 7, doc = '[1, 2]' WHERE id = 1`);
    await p.db.query(`UPDATE ${s}.types SET id = 4 WHERE id = 2`);
    await p.db.query(`DELETE FROM ${s}.types WHERE id = 100`);
    await p.db.query(`BEGIN; DELETE FROM ${s}.composite WHERE a <= 50; UPDATE ${s}.composite SET val = 'changed' WHERE a > 150; COMMIT`);
    for (const rows of [sqlite, mysql]) {
      await p.waitConsistent('types', rows('types'), 180_000);
      await p.waitConsistent('composite', rows('composite'), 180_000);
    }
    const big = await sqlite('types')();
    assert.equal(String(big.find((r) => BigInt(r.id as bigint) === 3n)?.big).length, 3000 * 32, 'the TOASTed value survived the update that did not carry it');

    await p.db.query(`TRUNCATE ${s}.composite`);
    await p.db.query(`INSERT INTO ${s}.composite VALUES (1, 'after', 'the truncate'), (2, 'after', 'the truncate')`);
    for (const rows of [sqlite, mysql]) {
      const r = await p.waitConsistent('composite', rows('composite'), 180_000);
      assert.equal(r.targetRows, 2);
    }
  });

  test('the SQLite sink killed with SIGKILL midway resumes exactly', async () => {
    const s = `"${p.schema}"`;
    const writes = (async () => {
      for (let i = 0; i < 40; i++) {
        await p.db.query(`INSERT INTO ${s}.composite SELECT g, 'w${i}', 'x' FROM generate_series(1000, 1049) g`);
        await p.db.query(`UPDATE ${s}.composite SET val = 'u${i}' WHERE b = 'w${Math.max(0, i - 1)}'`);
        if (i % 5 === 4) await p.db.query(`DELETE FROM ${s}.composite WHERE b = 'w${i - 4}'`);
      }
    })();
    await waitFor('the SQLite sink to be applying', async () => (await sqlite('composite')()).length > 10, { timeoutMs: 120_000 });
    sqliteSink.kill('SIGKILL');
    await sqliteSink.exited;
    await writes;
    sqliteSink = p.startSink('sink-sqlite', sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` }, 'sink-sqlite-restarted');
    for (const rows of [sqlite, mysql]) {
      const r = await p.waitConsistent('composite', rows('composite'), 180_000);
      assert.ok(r.sourceRows > 2);
      await p.waitConsistent('types', rows('types'), 180_000);
    }
  });
});
