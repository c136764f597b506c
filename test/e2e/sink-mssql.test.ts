import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mssql from 'mssql';
import { TestPipeline } from '../support/pipeline.js';
import { mssqlRows } from '../support/checker.js';
import { MSSQL_URL } from '../support/env.js';
import { startProcess } from '../support/processes.js';

/**
 * PostgreSQL → walrelay-source → Kafka → walrelay-sink-mssql → SQL Server, all real. Needs a
 * server: WALRELAY_TEST_MSSQL_URL, e.g. (docker compose up mssql)
 *   mssql://sa:Walrelay-Dev-Passw0rd@127.0.0.1:1433/walrelay_test?encrypt=true&trustServerCertificate=true
 * Each run works in its own schemas of that database (the target URL's `schema` parameter)
 * and drops them at the end.
 */
const skip = MSSQL_URL ? false : 'WALRELAY_TEST_MSSQL_URL is not set: no SQL Server to run the SQL Server pipeline against';

function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

async function onServer<T>(fn: (pool: mssql.ConnectionPool) => Promise<T>): Promise<T> {
  const u = new URL(MSSQL_URL as string);
  const flag = (name: string, fallback: boolean): boolean => {
    const v = u.searchParams.get(name);
    return v === null ? fallback : ['true', '1', 'yes'].includes(v.toLowerCase());
  };
  const pool = new mssql.ConnectionPool({
    server: u.hostname,
    port: u.port ? Number(u.port) : 1433,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
    options: { encrypt: flag('encrypt', true), trustServerCertificate: flag('trustServerCertificate', false) },
  });
  await pool.connect();
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

async function dropSchema(schema: string): Promise<void> {
  await onServer(async (pool) => {
    const tables = await pool.request().input('s', mssql.NVarChar, schema).query<{ name: string }>('SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID(@s)');
    for (const t of tables.recordset) await pool.request().batch(`DROP TABLE [${schema}].[${t.name.replace(/]/g, ']]')}]`);
    await pool.request().batch(`IF SCHEMA_ID(N'${schema}') IS NOT NULL DROP SCHEMA [${schema}]`);
  });
}

describe('pipeline into SQL Server', { skip }, () => {
  const p = new TestPipeline('mssql');
  const schema = `${p.id}_t`;
  const replaySchema = `${p.id}_r`;
  const url = () => withSchema(MSSQL_URL as string, schema);
  const hostile = 'Order "Items" `x` [y] é;';
  const rows = (t: string, s = schema) => mssqlRows(MSSQL_URL as string, s, t);

  before(async () => {
    await onServer(async (pool) => {
      await pool.request().batch(`CREATE SCHEMA [${schema}]`);
      await pool.request().batch(`CREATE SCHEMA [${replaySchema}]`);
    });
    await p.setup((s) => [
      `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
      `CREATE TABLE ${s}.types (
        id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(20), price numeric(12,3), n numeric,
        f4 float4, f8 float8, flag bool, born date, t time, at timestamptz, local timestamp, tags text[], ints int4[],
        doc jsonb, uid uuid, bin bytea, mood ${s}.mood, dur interval, big text)`,
      `CREATE TABLE ${s}.composite (a int4, b text, val text, PRIMARY KEY (a, b))`,
      `CREATE TABLE ${s}.${'"' + hostile.replace(/"/g, '""') + '"'} ("select" int4 PRIMARY KEY, "Col ""quoted""" text, "ünïcode col" text)`,
      `INSERT INTO ${s}.types (id, name, price) VALUES (100, 'before the snapshot', 1.5)`,
    ]);
    p.capture('types', 'composite', hostile);
    p.startSource();
    p.startSink('sink-mssql', url());
  });

  after(async () => {
    await p.cleanup();
    await dropSchema(schema).catch(() => undefined);
    await dropSchema(replaySchema).catch(() => undefined);
  });

  test('snapshot rows arrive', async () => {
    const r = await p.waitConsistent('types', rows('types'));
    assert.equal(r.sourceRows, 1);
  });

  test('every type SQL Server can hold round-trips PostgreSQL → SQL Server', async () => {
    const s = `"${p.schema}"`;
    // No BC dates, ±infinity, NaN floats or 24:00:00: SQL Server has no form for them.
    await p.db.query(`INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', -3.25, -2.2250738585072014e-308, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '"just a string"', NULL, NULL, 'sad', '-1 days', NULL)`);
    const r = await p.waitConsistent('types', rows('types'));
    assert.equal(r.sourceRows, 4);
  });

  test('updates and deletes apply; a composite key works', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.composite SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 500) g`);
    await p.db.query(`UPDATE ${s}.composite SET val = 'updated' WHERE a % 3 = 0`);
    await p.db.query(`DELETE FROM ${s}.composite WHERE a % 5 = 0`);
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
    const row = await onServer(async (pool) => (await pool.request().query(`SELECT name, LEN(big) AS len, i4 FROM [${schema}].[types] WHERE id = 50`)).recordset[0]);
    assert.equal(row.name, 't2');
    assert.equal(row.len, 96_000);
    assert.equal(row.i4, 7);
  });

  test('hostile table and column names replicate', async () => {
    const t = `"${p.schema}"."${hostile.replace(/"/g, '""')}"`;
    await p.db.query(`INSERT INTO ${t} VALUES (1, 'q"uote', 'ü'), (2, 'back\`tick', '[b]'), (3, 'x', 'y')`);
    await p.db.query(`UPDATE ${t} SET "ünïcode col" = 'changed' WHERE "select" = 2`);
    await p.db.query(`DELETE FROM ${t} WHERE "select" = 3`);
    const r = await p.waitConsistent(hostile, rows(hostile));
    assert.equal(r.sourceRows, 2);
  });

  test('a new column in PostgreSQL becomes a new column in the target', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`ALTER TABLE ${s}.composite ADD COLUMN added_later int8`);
    await p.db.query(`UPDATE ${s}.composite SET added_later = a * 1000 WHERE a < 10`);
    await p.waitConsistent('composite', rows('composite'));
  });

  test('truncate empties the target table', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`TRUNCATE ${s}.composite`);
    await p.db.query(`INSERT INTO ${s}.composite (a, b, val) VALUES (1, 'after', 'truncate')`);
    const r = await p.waitConsistent('composite', rows('composite'));
    assert.equal(r.targetRows, 1);
  });

  test('offsets are stored in the target with the source LSN', async () => {
    const offsets = await onServer(async (pool) =>
      (
        await pool
          .request()
          .input('g', mssql.NVarChar, `${p.id}_group`)
          .query<{ next_offset: string; source_lsn: string | null }>(
            `SELECT CONVERT(varchar(20), next_offset) AS next_offset, CONVERT(varchar(20), source_lsn) AS source_lsn FROM [${schema}].[walrelay_offsets] WHERE group_id = @g`,
          )
      ).recordset,
    );
    assert.ok(offsets.length >= 3, JSON.stringify(offsets));
    assert.ok(offsets.every((o) => BigInt(o.next_offset) > 0n));
    assert.ok(offsets.some((o) => o.source_lsn !== null && BigInt(o.source_lsn) > 0n));
  });

  test('a replay into a fresh schema with a new group rebuilds the same tables', async () => {
    const sink = startProcess('sink-mssql', p.sinkEnv(withSchema(MSSQL_URL as string, replaySchema), { WALRELAY_GROUP_ID: `${p.id}_replay` }), `${p.id}-replay`);
    p.processes.push(sink);
    for (const t of ['types', 'composite', hostile]) await p.waitConsistent(t, rows(t, replaySchema));
    assert.equal(await sink.stop(), 0, sink.output().slice(-2000));
  });

  test('SIGTERM: the sink finishes, commits and exits 0', async () => {
    const sink = p.processes.find((x) => x.name.endsWith('sink-mssql'))!;
    const code = await sink.stop();
    assert.equal(code, 0, sink.output().slice(-2000));
  });
});

describe('walrelay-sink-mssql binary', () => {
  test('starts, says where it connects (password redacted) and retries an unreachable server; SIGTERM exits 0', async () => {
    const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
    const sink = startProcess(
      'sink-mssql',
      {
        WALRELAY_TARGET_URL: `mssql://sa:${password}@127.0.0.1:1/walrelay_test?encrypt=false`,
        WALRELAY_TOPIC_PREFIX: `mssqlbin${Date.now().toString(36)}`,
      },
      'mssql-unreachable',
    );
    try {
      const { waitFor } = await import('../support/wait.js');
      await waitFor('two connection attempts', () => (sink.output().match(/cannot connect to 127\.0\.0\.1:1\//g) ?? []).length >= 2, {
        timeoutMs: 60_000,
        describe: () => sink.output().slice(-3000),
      });
      assert.match(sink.output(), /walrelay-sink-mssql starting/);
    } finally {
      assert.equal(await sink.stop(), 0, sink.output().slice(-2000));
    }
    assert.ok(!sink.output().includes(password), 'the password appears in the output');
  });
});
