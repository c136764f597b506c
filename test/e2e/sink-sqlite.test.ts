import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TestPipeline } from '../support/pipeline.js';
import { sqliteRows } from '../support/checker.js';
import { waitFor } from '../support/wait.js';
import { startProcess } from '../support/processes.js';

/**
 * PostgreSQL → walrelay-source → Kafka → walrelay-sink-sqlite → SQLite file, all real.
 */
describe('pipeline into SQLite', () => {
  const p = new TestPipeline('sqlite');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'walrelay-')), 'target.sqlite');
  const hostile = 'Order "Items" `x` [y] é;';
  const rows = (t: string) => sqliteRows(file, t);

  before(async () => {
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
    p.startSink('sink-sqlite', file);
  });

  after(async () => {
    await p.cleanup();
  });

  test('snapshot rows arrive', async () => {
    const r = await p.waitConsistent('types', rows('types'));
    assert.equal(r.sourceRows, 1);
  });

  test('every supported type round-trips PostgreSQL → SQLite', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', 'NaN', '-Infinity', NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '[]', NULL, NULL, 'sad', '-1 days', NULL)`);
    await p.waitConsistent('types', rows('types'));
  });

  test('updates and deletes apply; a composite key works', async () => {
    const s = `"${p.schema}"`;
    await p.db.query(`INSERT INTO ${s}.composite SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 500) g`);
    await p.db.query(`UPDATE ${s}.composite SET val = 'updated' WHERE a % 3 = 0`);
    await p.db.query(`DELETE FROM ${s}.composite WHERE a % 5 = 0`);
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
    // Several updates that do not touch `big`, in one transaction and in separate ones.
    await p.db.query(`BEGIN; UPDATE ${s}.types SET name = 't1' WHERE id = 50; UPDATE ${s}.types SET i4 = 7 WHERE id = 50; COMMIT;`);
    await p.db.query(`UPDATE ${s}.types SET name = 't2' WHERE id = 50`);
    await p.waitConsistent('types', rows('types'));
    const db = new Database(file, { readonly: true });
    const row = db.prepare('SELECT name, length(big) AS len FROM types WHERE id = 50').get() as { name: string; len: number };
    db.close();
    assert.equal(row.name, 't2');
    assert.equal(row.len, 96_000);
  });

  test('hostile table and column names replicate', async () => {
    const t = `"${p.schema}"."${hostile.replace(/"/g, '""')}"`;
    await p.db.query(`INSERT INTO ${t} VALUES (1, 'q"uote', 'ü'), (2, 'back\`tick', '[b]')`);
    await p.db.query(`UPDATE ${t} SET "ünïcode col" = 'changed' WHERE "select" = 2`);
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
    assert.equal(r.sourceRows, 1);
  });

  test('many truncates between writes on every partition: each is a barrier, its state stays two rows per partition', async () => {
    const s = `"${p.schema}"`;
    for (let round = 0; round < 40; round++) {
      const base = 1000 + round * 100;
      await p.db.query(`INSERT INTO ${s}.composite (a, b, val) SELECT g, 'r${round}', 'before' FROM generate_series(${base}, ${base + 29}) g`);
      await p.db.query(`TRUNCATE ${s}.composite`);
      await p.db.query(`INSERT INTO ${s}.composite (a, b, val) SELECT g, 'r${round}', 'after' FROM generate_series(${base + 50}, ${base + 50 + (round % 7)}) g`);
    }
    const r = await p.waitConsistent('composite', rows('composite'));
    assert.equal(r.sourceRows, 39 % 7 + 1, 'only the rows written after the last truncate remain');
    const db = new Database(file, { readonly: true });
    const barrierRows = db.prepare("SELECT topic, kafka_partition AS p FROM walrelay_offsets WHERE topic LIKE '\\_\\_walrelay\\_truncate%' ESCAPE '\\'").all() as { topic: string }[];
    db.close();
    // composite has had 41 truncates over its 3 partitions: an arrival and a done row per partition.
    assert.equal(barrierRows.length, 6, JSON.stringify(barrierRows));
  });

  test('offsets are stored in the target with the source LSN', async () => {
    const db = new Database(file, { readonly: true });
    const offsets = db.prepare('SELECT * FROM walrelay_offsets').safeIntegers(true).all() as { next_offset: bigint; source_lsn: bigint | null }[];
    db.close();
    assert.ok(offsets.length >= 3);
    assert.ok(offsets.every((o) => o.next_offset > 0n));
    assert.ok(offsets.some((o) => o.source_lsn !== null && o.source_lsn > 0n));
  });

  test('a replay into a fresh target with a new group rebuilds the same tables', async () => {
    const fresh = path.join(path.dirname(file), 'replay.sqlite');
    const replay = startProcess('sink-sqlite', p.sinkEnv(fresh, { WALRELAY_GROUP_ID: `${p.id}_replay` }), `${p.id}-replay`);
    p.processes.push(replay);
    for (const t of ['types', 'composite', hostile]) await p.waitConsistent(t, sqliteRows(fresh, t));
    const code = await replay.stop();
    assert.equal(code, 0);
  });

  test('SIGTERM: the sink finishes, commits and exits 0', async () => {
    const sink = p.processes.find((x) => x.name.endsWith('sink-sqlite'))!;
    const code = await sink.stop();
    assert.equal(code, 0, sink.output().slice(-2000));
    await waitFor('the sink to have left', () => sink.child.exitCode !== null);
  });
});
