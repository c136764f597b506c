import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import mssql from 'mssql';
import { tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { mssqlRows, mysqlRows, sqliteRows, type TargetRows } from '../support/checker.js';
import { MSSQL_URL } from '../support/env.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { TopicCollector, testKafka } from '../support/kafka.js';
import { startProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/**
 * PostgreSQL → walrelay-source → Kafka → walrelay-sink-<target> → the target, all real: one
 * suite run against SQLite, MariaDB/MySQL and (when WALRELAY_TEST_MSSQL_URL is set) SQL Server.
 * What differs per target (the values it can hold, how to read it) is in its descriptor.
 */
interface StoredOffsetRow {
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: bigint;
  readonly sourceLsn: bigint | null;
}

interface Target {
  readonly kind: 'sqlite' | 'mysql' | 'mssql';
  readonly skip: string | false;
  create(): Promise<void>;
  drop(): Promise<void>;
  url(replay?: boolean): string;
  rows(table: string, replay?: boolean): TargetRows;
  /** Rows of the types table that exercise every type the target can hold, and how many the table then has. */
  typesRows: string;
  typesCount?: number;
  /** name, length of big and i4 of types row 50. */
  /** The row `id` (50 unless given) of `types`: its name, the length of `big` and i4. */
  toastRow(id?: number): Promise<{ name: string; len: number; i4?: number }>;
  /** Column names of a target table, in order. */
  columns?(table: string): Promise<string[]>;
  offsets(group: string): Promise<StoredOffsetRow[]>;
  /** Barrier rows in walrelay_offsets (topic like __walrelay_truncate%). */
  barrierRows(): Promise<number>;
}

const hostile = 'Order "Items" `x` [y] é;';

function sqliteTarget(): Target {
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-'));
  const file = path.join(dir, 'target.sqlite');
  const replay = path.join(dir, 'replay.sqlite');
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file, { readonly: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    kind: 'sqlite',
    skip: false,
    create: async () => undefined,
    drop: async () => undefined,
    url: (r) => (r ? replay : file),
    rows: (t, r) => sqliteRows(r ? replay : file, t),
    typesRows: `
      (1, -32768, 2147483647, 'héllo ✓', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', 'NaN', '-Infinity', NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '[]', NULL, NULL, 'sad', '-1 days', NULL)`,
    toastRow: async (id = 50) => read((db) => db.prepare('SELECT name, length(big) AS len, i4 FROM types WHERE id = ?').get(id) as { name: string; len: number; i4: number }),
    offsets: async (group) =>
      read((db) =>
        (db.prepare('SELECT topic, kafka_partition, next_offset, source_lsn FROM walrelay_offsets WHERE group_id = ?').safeIntegers(true).all(group) as { topic: string; kafka_partition: bigint; next_offset: bigint; source_lsn: bigint | null }[]).map((o) => ({
          topic: o.topic,
          partition: Number(o.kafka_partition),
          nextOffset: o.next_offset,
          sourceLsn: o.source_lsn,
        })),
      ),
    barrierRows: async () => read((db) => (db.prepare("SELECT count(*) AS n FROM walrelay_offsets WHERE topic LIKE '\\_\\_walrelay\\_truncate%' ESCAPE '\\'").get() as { n: number }).n),
  };
}

function mysqlTarget(id: string): Target {
  const target = new MysqlTestDatabase(id);
  const replay = new MysqlTestDatabase(`${id}_r`);
  return {
    kind: 'mysql',
    skip: false,
    create: async () => {
      await target.create();
      await replay.create();
    },
    drop: async () => {
      await target.drop();
      await replay.drop();
    },
    url: (r) => (r ? replay.url : target.url),
    rows: (t, r) => mysqlRows(r ? replay.url : target.url, t, { exact: true }),
    // BC dates, ±infinity and NaN floats have no MySQL form: see sink-mysql.test.ts (dead letters).
    typesRows: `
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', -3.25, -2.2250738585072014e-308, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (-9223372036854775808, 32767, -2147483648, 'back\\slash '' quote', '', 999999999.999, '-0.000000000000000000001', 3.4028235e38, 5e-324, false,
       '1000-01-01', '24:00:00', '1970-01-01 00:00:00+00', '2038-01-19 03:14:08', '{}', '{NULL}', '"just a string"', NULL, NULL, 'happy', '-1 days', ''),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '[]', NULL, NULL, 'sad', '-1 days', NULL)`,
    typesCount: 5,
    toastRow: async (id = 50) => {
      const [row] = await target.query<{ name: string; len: string; i4: number }>('SELECT name, CHAR_LENGTH(big) AS len, i4 FROM types WHERE id = ?', [id]);
      return { name: row!.name, len: Number(row!.len), i4: row!.i4 };
    },
    columns: async (table) =>
      (await target.query<{ name: string }>('SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [table])).map((c) => c.name),
    offsets: async (group) =>
      (
        await target.query<{ topic: string; kafka_partition: number; next_offset: string; source_lsn: string | null }>(
          'SELECT topic, kafka_partition, CAST(next_offset AS CHAR) AS next_offset, CAST(source_lsn AS CHAR) AS source_lsn FROM walrelay_offsets WHERE group_id = ?',
          [group],
        )
      ).map((o) => ({ topic: o.topic, partition: o.kafka_partition, nextOffset: BigInt(o.next_offset), sourceLsn: o.source_lsn === null ? null : BigInt(o.source_lsn) })),
    barrierRows: async () => Number((await target.query<{ n: number }>("SELECT COUNT(*) AS n FROM walrelay_offsets WHERE LEFT(topic, 19) = '__walrelay_truncate'"))[0]?.n),
  };
}

function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

async function onMssql<T>(fn: (pool: mssql.ConnectionPool) => Promise<T>): Promise<T> {
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

function mssqlTarget(id: string): Target {
  const schema = `${id}_t`;
  const replay = `${id}_r`;
  const dropSchema = (s: string) =>
    onMssql(async (pool) => {
      const tables = await pool.request().input('s', mssql.NVarChar, s).query<{ name: string }>('SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID(@s)');
      for (const t of tables.recordset) await pool.request().batch(`DROP TABLE [${s}].[${t.name.replace(/]/g, ']]')}]`);
      await pool.request().batch(`IF SCHEMA_ID(N'${s}') IS NOT NULL DROP SCHEMA [${s}]`);
    });
  return {
    kind: 'mssql',
    skip: MSSQL_URL ? false : 'WALRELAY_TEST_MSSQL_URL is not set: no SQL Server to run the SQL Server pipeline against',
    create: () =>
      onMssql(async (pool) => {
        await pool.request().batch(`CREATE SCHEMA [${schema}]`);
        await pool.request().batch(`CREATE SCHEMA [${replay}]`);
      }),
    drop: async () => {
      await dropSchema(schema).catch(() => undefined);
      await dropSchema(replay).catch(() => undefined);
    },
    url: (r) => withSchema(MSSQL_URL as string, r ? replay : schema),
    rows: (t, r) => mssqlRows(MSSQL_URL as string, r ? replay : schema, t),
    // No BC dates, ±infinity, NaN floats or 24:00:00: SQL Server has no form for them.
    typesRows: `
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '{"a b",NULL,"c\\"d"}', '{1,2,-3}',
       '{"z": 1, "a": [true, null]}', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok', '1 year 2 mons 3 days 04:05:06.5', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, 'NaN', -3.25, -2.2250738585072014e-308, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, '', NULL, NULL, NULL),
      (9223372036854775807, 1, 1, 'max key', NULL, 0, 0, 0, 0, false, '0001-01-01', '00:00:00', '9999-12-31 23:59:59.999999+00', '0001-01-01 00:00:00', NULL, NULL, '"just a string"', NULL, NULL, 'sad', '-1 days', NULL)`,
    typesCount: 4,
    toastRow: (id = 50) => onMssql(async (pool) => (await pool.request().input('id', id).query(`SELECT name, LEN(big) AS len, i4 FROM [${schema}].[types] WHERE id = @id`)).recordset[0]),
    offsets: (group) =>
      onMssql(async (pool) =>
        (
          await pool
            .request()
            .input('g', mssql.NVarChar, group)
            .query<{ topic: string; kafka_partition: number; next_offset: string; source_lsn: string | null }>(
              `SELECT topic, kafka_partition, CONVERT(varchar(20), next_offset) AS next_offset, CONVERT(varchar(20), source_lsn) AS source_lsn FROM [${schema}].[walrelay_offsets] WHERE group_id = @g`,
            )
        ).recordset.map((o) => ({ topic: o.topic, partition: o.kafka_partition, nextOffset: BigInt(o.next_offset), sourceLsn: o.source_lsn === null ? null : BigInt(o.source_lsn) })),
      ),
    barrierRows: () => onMssql(async (pool) => Number((await pool.request().query(`SELECT COUNT(*) AS n FROM [${schema}].[walrelay_offsets] WHERE LEFT(topic, 19) = '__walrelay_truncate'`)).recordset[0]?.n)),
  };
}

for (const make of [sqliteTarget, mysqlTarget, mssqlTarget]) {
  const p = new TestPipeline('tgt');
  const target = make(p.id);
  const sinkKind = `sink-${target.kind}` as const;
  const rows = (t: string) => target.rows(t);

  describe(`pipeline into ${target.kind}`, { ...(target.skip ? { skip: target.skip } : {}) }, () => {
    before(async () => {
      await target.create();
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
      p.startSink(sinkKind, target.url());
    });

    after(async () => {
      await p.cleanup();
      await target.drop();
    });

    test('snapshot rows arrive', async () => {
      const r = await p.waitConsistent('types', rows('types'));
      assert.equal(r.sourceRows, 1);
    });

    test('every type the target can hold round-trips', async () => {
      await p.db.query(`INSERT INTO "${p.schema}".types VALUES ${target.typesRows}`);
      const r = await p.waitConsistent('types', rows('types'));
      if (target.typesCount !== undefined) assert.equal(r.sourceRows, target.typesCount);
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
      const row = await target.toastRow();
      assert.equal(row.name, 't2');
      assert.equal(Number(row.len), 96_000);
      assert.equal(Number(row.i4), 7);
    });

    test('a key change that leaves a TOAST value alone still carries it to the new key (the table is read again)', async () => {
      const s = `"${p.schema}"`;
      // Default replica identity: pgoutput sends the old key and marks big unchanged; the
      // targets delete the old row, so only a new read of the table can give the new row its value.
      await p.db.query(`UPDATE ${s}.types SET id = 51, name = 'moved' WHERE id = 50`);
      await p.waitConsistent('types', rows('types'));
      const row = await target.toastRow(51);
      assert.equal(row.name, 'moved');
      assert.equal(Number(row.len), 96_000);
      assert.equal(Number(row.i4), 7);
    });

    test('hostile table and column names replicate', async () => {
      const t = `"${p.schema}"."${hostile.replace(/"/g, '""')}"`;
      await p.db.query(`INSERT INTO ${t} VALUES (1, 'q"uote', 'ü', 'by'), (2, 'back\`tick', '[b]', NULL), (3, 'x', 'y', 'z')`);
      await p.db.query(`UPDATE ${t} SET "ünïcode col" = 'changed' WHERE "select" = 2`);
      await p.db.query(`DELETE FROM ${t} WHERE "select" = 3`);
      const r = await p.waitConsistent(hostile, rows(hostile));
      assert.equal(r.sourceRows, 2);
      if (target.columns) assert.deepEqual(await target.columns(hostile), ['select', 'Col "quoted"', 'ünïcode col', 'order']);
    });

    test('a new column in PostgreSQL becomes a new column in the target', async () => {
      const s = `"${p.schema}"`;
      await p.db.query(`ALTER TABLE ${s}.composite ADD COLUMN added_later int8, ADD COLUMN note varchar(30)`);
      await p.db.query(`UPDATE ${s}.composite SET added_later = a * 1000, note = 'n' || a WHERE a < 10`);
      await p.db.query(`INSERT INTO ${s}.composite VALUES (7777, 'new', 'row', 1, 'with new columns')`);
      await p.waitConsistent('composite', rows('composite'));
      if (target.columns) {
        const cols = await target.columns('composite');
        assert.ok(cols.includes('added_later') && cols.includes('note'), cols.join(','));
      }
    });

    test('truncate empties the target table', async () => {
      const s = `"${p.schema}"`;
      await p.db.query(`TRUNCATE ${s}.composite`);
      await p.db.query(`INSERT INTO ${s}.composite (a, b, val) VALUES (1, 'after', 'truncate')`);
      const r = await p.waitConsistent('composite', rows('composite'));
      assert.equal(r.sourceRows, 1);
      assert.equal(r.targetRows, 1);
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
      // composite has had 41 truncates over its 3 partitions: an arrival and a done row per partition.
      assert.equal(await target.barrierRows(), 6);
    });

    test('offsets are stored in the target with the source LSN, exactly past the last record of each partition', async () => {
      const topics = ['types', 'composite', hostile].map((t) => tableTopic(p.prefix, p.schema, t));
      const lsn = BigInt((await p.db.query<{ l: string }>("SELECT (pg_current_wal_lsn() - '0/0')::text AS l")).rows[0]!.l);
      const offsets = await target.offsets(`${p.id}_group`);
      const data = offsets.filter((o) => topics.includes(o.topic));
      assert.ok(data.length >= 3, JSON.stringify(offsets, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
      assert.ok(data.every((o) => o.nextOffset > 0n));
      assert.ok(data.some((o) => o.sourceLsn !== null && o.sourceLsn > 0n && o.sourceLsn <= lsn));
      // Read every topic back: the stored next offset of a partition is its last record's offset + 1.
      const stored = new Map(data.map((o) => [`${o.topic}/${o.partition}`, o.nextOffset]));
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

    test('a replay into a fresh target with a new group rebuilds the same tables', async () => {
      const sink = startProcess(sinkKind, p.sinkEnv(target.url(true), { WALRELAY_GROUP_ID: `${p.id}_replay` }), `${p.id}-replay`);
      p.processes.push(sink);
      for (const t of ['types', 'composite', hostile]) await p.waitConsistent(t, target.rows(t, true));
      assert.equal(await sink.stop(), 0, sink.output().slice(-2000));
    });

    test('SIGTERM: the sink finishes, commits and exits 0', async () => {
      const sink = p.processes.find((x) => x.name.endsWith(sinkKind))!;
      const code = await sink.stop();
      assert.equal(code, 0, sink.output().slice(-2000));
      assert.match(sink.output(), new RegExp(`${sinkKind} stopped`));
    });
  });
}
