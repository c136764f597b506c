import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import avro from 'avsc';
import csr from '@kafkajs/confluent-schema-registry';
import type pg from 'pg';
import { tableTopic } from '@walrelay/core';
import { TestPipeline } from '../support/pipeline.js';
import { canonical, mysqlRows, pgExpr, sqliteRows, type TargetRows } from '../support/checker.js';
import { MysqlTestDatabase } from '../support/mysql.js';
import { apicurioConverter, connectAvailable, connectorStatus, createConnector, deleteConnector } from '../support/debezium.js';
import { testKafka } from '../support/kafka.js';
import { REGISTRY_URL } from '../support/env.js';
import { waitFor } from '../support/wait.js';
import { q } from '../support/postgres.js';
import { describeTableByName } from '../../packages/source-postgres/src/catalog.js';

const { SchemaRegistry } = csr;

/**
 * Direction 2 of the Debezium interoperability: walrelay-source with `format: debezium` writes
 * the topics; (a) Debezium's own JDBC sink (real, in Kafka Connect, Avro through Apicurio's
 * converter) applies them into MariaDB and the target equals PostgreSQL for the columns whose
 * meaning Debezium keeps; (b) @kafkajs/confluent-schema-registry and avsc decode the records;
 * (c) walrelay's SQLite sink applies the same topics (a truncate across 3 partitions included)
 * and ends equal to PostgreSQL.
 */
const available = await connectAvailable();

/** PostgreSQL text ↔ target value, through the checker's canonical form, for some columns only. */
async function compareColumns(db: pg.Client, schema: string, table: string, columns: readonly string[], rows: TargetRows): Promise<string[]> {
  const shape = await describeTableByName(db, schema, table);
  const cols = shape.columns.filter((c) => columns.includes(c.name));
  assert.equal(cols.length, columns.length, `columns ${columns.join(', ')} of ${table}`);
  const key = shape.columns.filter((c) => c.key !== null);
  await db.query("SET IntervalStyle = 'iso_8601'; SET TimeZone = 'UTC'; SET extra_float_digits = 3");
  // ±infinity as PostgreSQL prints it (to_char prints nothing for it).
  const expr = (c: (typeof cols)[number]): string => (c.kind === 'timestamp' || c.kind === 'timestamptz' ? `CASE WHEN isfinite(${q(c.name)}) THEN ${pgExpr(c)} ELSE ${q(c.name)}::text END` : pgExpr(c));
  const src = await db.query({ text: `SELECT ${[...key, ...cols].map(expr).join(', ')} FROM ${q(schema)}.${q(table)}`, rowMode: 'array' });
  const source = new Map<string, (string | null)[]>();
  for (const r of src.rows as unknown[][]) {
    const k = key.map((c, i) => canonical(c, r[i])).join('|');
    source.set(k, cols.map((c, i) => canonical(c, r[key.length + i])));
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of await rows()) {
    const k = key.map((c) => canonical(c, r[c.name])).join('|');
    seen.add(k);
    const want = source.get(k);
    if (!want) {
      problems.push(`${table} ${k}: in the target only`);
      continue;
    }
    cols.forEach((c, i) => {
      const got = canonical(c, r[c.name]);
      if (got !== want[i]) problems.push(`${table} ${k} ${c.name}: source ${JSON.stringify(want[i])?.slice(0, 80)} target ${JSON.stringify(got)?.slice(0, 80)}`);
    });
  }
  for (const k of source.keys()) if (!seen.has(k)) problems.push(`${table} ${k}: missing in the target`);
  return problems;
}

/** A bigint-backed Avro long for avsc (Debezium's and walrelay's longs exceed 2^53: ±infinity markers, LSNs). */
const BigLong = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    return b;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => n.toString(),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

describe('walrelay-source format debezium → Debezium JDBC sink, the ecosystem clients and walrelay sinks', { skip: available ? false : 'Kafka Connect with Debezium is not running (bash scripts/services.sh up debezium)' }, () => {
  const p = new TestPipeline('dbz2');
  const connector = `${p.id}_jdbc`;
  const mysqlTarget = new MysqlTestDatabase(p.id);
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-dbz2-'));
  const sqliteFile = path.join(dir, 'target.db');
  const sqlite = (t: string): TargetRows => sqliteRows(sqliteFile, t);
  /** The JDBC sink's table of a topic (its default naming: the topic, dots as underscores). */
  const mariadb = (t: string): TargetRows => mysqlRows(mysqlTarget.url, topic(t).replace(/\./g, '_'), { exact: true });
  const topic = (t: string): string => tableTopic(p.prefix, p.schema, t);

  /** Columns whose meaning Debezium's encodings keep and MariaDB stores through the JDBC sink. */
  // char(n) is left out: PostgreSQL's ::text drops the padding the target keeps (a checker artifact, not a difference).
  const JDBC_KEPT = ['id', 'i2', 'i4', 'name', 'v', 'price', 'f8', 'flag', 'born', 't', 'at', 'local', 'doc', 'js', 'uid', 'bin', 'mood', 'x', 'addr'];
  /** What walrelay's sinks read back exactly from Debezium's encodings (interval, timetz, bits, money are Debezium's own forms). */
  const SINK_KEPT = [...JDBC_KEPT, 'n', 'f4', 't3', 'local3', 'tags', 'ints', 'big'];

  before(async () => {
    await mysqlTarget.create();
    await p.setup((s) => [
      `CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`,
      `CREATE TABLE ${s}.types (
        id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(20), c char(3), price numeric(12,3), n numeric,
        f4 float4, f8 float8, flag bool, born date, t time, t3 time(3), tz timetz, at timestamptz, local timestamp, local3 timestamp(3),
        tags text[], ints int4[], doc jsonb, js json, uid uuid, bin bytea, mood ${s}.mood, dur interval,
        b1 bit(1), b8 bit(8), vb varbit(16), x xml, addr inet, cash money, big text)`,
      `CREATE TABLE ${s}.composite (a int4, b text, val text, PRIMARY KEY (a, b))`,
      // ±infinity: MariaDB's DATETIME cannot hold them, so only walrelay's SQLite sink reads this table.
      `CREATE TABLE ${s}.edge (id int4 PRIMARY KEY, born date, at timestamptz, local timestamp, local3 timestamp(3))`,
      `CREATE TABLE ${s}.multi (id int4 PRIMARY KEY, val text)`,
      `INSERT INTO ${s}.types (id, name, price, born, at) VALUES (100, 'snapshot row', 1.5, '2020-01-01', '2020-01-01 10:00:00+00')`,
      `INSERT INTO ${s}.composite SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 50) g`,
      `INSERT INTO ${s}.multi SELECT g, 'before' FROM generate_series(1, 30) g`,
    ]);
    // Debezium's JDBC sink applies a truncate exactly on a one-partition topic (as Kafka Connect
    // creates Debezium's own); the other tables get the source's 3 partitions.
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: topic('composite'), numPartitions: 1, replicationFactor: 1 }] });
    await admin.disconnect();
    p.capture('types', 'composite', 'edge', 'multi');
    p.startSource({ WALRELAY_FORMAT: 'debezium', WALRELAY_TOPIC_PARTITIONS: '3' });
    p.startSink('sink-sqlite', sqliteFile, { WALRELAY_GROUP_ID: `${p.id}_sqlite` });
    await waitFor('the source to create the topics', async () => {
      const a = testKafka().admin();
      await a.connect();
      try {
        const list = await a.listTopics();
        return ['types', 'composite'].every((t) => list.includes(topic(t)));
      } finally {
        await a.disconnect();
      }
    }, { timeoutMs: 120_000 });
    await createConnector(connector, {
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      'tasks.max': '1',
      topics: [topic('types'), topic('composite')].join(','),
      // The plugin bundles mariadb-java-client 3.5.3 (and mysql-connector-j): MariaDB's own driver.
      'connection.url': `jdbc:mariadb://127.0.0.1:3306/${mysqlTarget.name}`,
      'connection.username': 'walrelay',
      'connection.password': 'walrelay',
      'insert.mode': 'upsert',
      'delete.enabled': 'true',
      'truncate.enabled': 'true',
      'primary.key.mode': 'record_key',
      'schema.evolution': 'basic',
      // MariaDB has no array columns (Debezium's JDBC sink writes arrays to PostgreSQL only).
      // timetz: the JDBC sink declares ZonedTime as `time(6) with time zone`, which MariaDB refuses
      // (Debezium's own records of a timetz column fail the same way).
      'field.exclude.list': ['tags', 'ints', 'tz'].map((f) => `${topic('types')}:${f}`).join(','),
      ...apicurioConverter('key'),
      ...apicurioConverter('value'),
    });
  });

  after(async () => {
    await deleteConnector(connector).catch(() => undefined);
    await p.cleanup();
    await mysqlTarget.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const jdbcFailed = async (): Promise<string> => {
    const s = await connectorStatus(connector);
    return JSON.stringify(s).slice(0, 3000);
  };

  async function waitColumns(table: string, columns: readonly string[], rows: TargetRows, what: string): Promise<void> {
    let last: string[] = [];
    const done = await waitFor(`${table} in ${what} to equal PostgreSQL (${columns.length} columns)`, async () => {
      if (what.includes('JDBC') && JSON.stringify(await connectorStatus(connector)).includes('"FAILED"')) return 'the JDBC sink task failed';
      last = await compareColumns(p.db, p.schema, table, columns, rows);
      return last.length === 0 ? 'equal' : undefined;
    }, { timeoutMs: 180_000, intervalMs: 500, describe: async () => `${last.slice(0, 10).join('\n')}\n${await jdbcFailed()}\n${p.processes.map((x) => `--- ${x.name}\n${x.output().slice(-2500)}`).join('\n')}` });
    assert.equal(done, 'equal', `${table} in ${what}: ${await jdbcFailed()}`);
  }

  test('snapshot reads reach MariaDB through Debezium’s JDBC sink and SQLite through walrelay’s sink', async () => {
    await waitColumns('types', JDBC_KEPT, mariadb('types'), 'MariaDB (Debezium JDBC sink)');
    await waitColumns('composite', ['a', 'b', 'val'], mariadb('composite'), 'MariaDB (Debezium JDBC sink)');
    await waitColumns('types', SINK_KEPT, sqlite('types'), 'SQLite');
    await waitColumns('multi', ['id', 'val'], sqlite('multi'), 'SQLite');
  });

  test('every type, an unchanged TOAST value, deletes, a key change and truncates end equal to PostgreSQL', async () => {
    const s = q(p.schema);
    await p.db.query(`INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', 'ab', -123456789.123, '1234567890.12345678901234567891', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '12:00:00.123', '10:11:12.5+02', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '2001-02-03 04:05:06.789',
       '{"a b",NULL,"c\\"d"}', '{1,2,-3}', '{"z": 1, "a": [true, null]}', '[1, "x"]', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok',
       '1 year 2 mons 3 days 04:05:06.5', B'1', B'10100101', B'1101', '<a>x</a>', '192.168.0.1/24', '12.34', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, '-0.000000000000000000001', NULL, -2.2250738585072014e-308, false, '1000-01-01', '00:00:00', NULL, NULL,
       '1970-01-02 00:00:00+00', '2038-01-19 03:14:08', NULL, '{}', '{NULL}', '"just a string"', 'null', NULL, '', 'sad', '-1 days', B'0', NULL, B'', NULL, NULL, '-1.5', '')`);
    await p.db.query(`INSERT INTO ${s}.types (id, name, big) SELECT 3, 'toast', string_agg(md5(g::text), '') FROM generate_series(1, 3000) g`);
    // Leaves big alone: pgoutput does not send it, the source writes Debezium's placeholder.
    await p.db.query(`UPDATE ${s}.types SET name = 'toast untouched' WHERE id = 3`);
    await p.db.query(`UPDATE ${s}.types SET i4 = 7, doc = '[1, 2]' WHERE id = 1`);
    await p.db.query(`UPDATE ${s}.types SET id = 4 WHERE id = 2`);
    await p.db.query(`DELETE FROM ${s}.types WHERE id = 100`);
    await p.db.query(`BEGIN; DELETE FROM ${s}.composite WHERE a <= 10; UPDATE ${s}.composite SET val = 'changed' WHERE a > 40; UPDATE ${s}.composite SET a = a + 1000 WHERE a = 20; COMMIT`);
    // (BC years: walrelay's sinks refuse them for every target, whatever the format.)
    await p.db.query(`INSERT INTO ${s}.edge VALUES (1, '2024-01-01', 'infinity', '-infinity', 'infinity'), (2, 'infinity', '-infinity', 'infinity', '-infinity'), (3, '-infinity', '0001-01-01 00:00:00+00', '1900-01-01 00:00:00', '1900-01-01 00:00:00.123')`);

    await waitColumns('types', SINK_KEPT, sqlite('types'), 'SQLite');
    await waitColumns('edge', ['id', 'born', 'at', 'local', 'local3'], sqlite('edge'), 'SQLite');
    await waitColumns('composite', ['a', 'b', 'val'], sqlite('composite'), 'SQLite');
    const big = (await sqlite('types')()).find((r) => BigInt(r.id as bigint) === 3n);
    assert.equal(String(big?.big).length, 3000 * 32, 'walrelay’s sink kept the TOASTed value the update did not carry');

    // Debezium's JDBC sink: every kept column equal, except what it does with the TOAST placeholder (below).
    await waitColumns('types', JDBC_KEPT, mariadb('types'), 'MariaDB (Debezium JDBC sink)');
    await waitColumns('composite', ['a', 'b', 'val'], mariadb('composite'), 'MariaDB (Debezium JDBC sink)');
    const jdbcBig = (await mariadb('types')()).find((r) => String(r.id) === '3');
    assert.ok(jdbcBig, 'row 3 in MariaDB');
    // Debezium's JDBC sink has no notion of unchanged TOAST values: it writes the placeholder, as it does for Debezium's own records.
    assert.equal(String(jdbcBig.big), '__debezium_unavailable_value', `row 3's big in MariaDB: ${String(jdbcBig.big).slice(0, 40)}`);

    // Truncates: Debezium's representation (op t, null key) on a one-partition topic for the JDBC sink,
    // and on every partition of a 3-partition topic for walrelay's sink (the barrier).
    await p.db.query(`TRUNCATE ${s}.composite`);
    await p.db.query(`INSERT INTO ${s}.composite VALUES (1, 'after', 'the truncate'), (2, 'after', 'the truncate')`);
    await p.db.query(`BEGIN; UPDATE ${s}.multi SET val = 'before truncate'; TRUNCATE ${s}.multi; INSERT INTO ${s}.multi SELECT g, 'after' FROM generate_series(100, 130) g; COMMIT`);
    await waitColumns('composite', ['a', 'b', 'val'], mariadb('composite'), 'MariaDB (Debezium JDBC sink)');
    await waitColumns('composite', ['a', 'b', 'val'], sqlite('composite'), 'SQLite');
    await waitColumns('multi', ['id', 'val'], sqlite('multi'), 'SQLite');
    assert.equal((await sqlite('multi')()).length, 31);
    assert.equal((await mariadb('composite')()).length, 2);
  });

  test('@kafkajs/confluent-schema-registry and avsc decode the records: Debezium’s envelope, types and truncates', async () => {
    // A type hook, not a shared `registry` option: the library passes the same options to every schema.
    const bigLongs = (schema: unknown): avro.Type | undefined => (schema === 'long' || (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long') ? BigLong : undefined);
    const registry = new SchemaRegistry({ host: REGISTRY_URL }, { AVRO: { typeHook: bigLongs } } as never);
    const consumer = testKafka().consumer({ groupId: `walrelay-test-${randomUUID()}`, readUncommitted: false });
    const seen: { key: Record<string, unknown> | null; value: Record<string, unknown> | null; plain: Record<string, unknown> | null; partition: number; headers: string[] }[] = [];
    const errors: Error[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic('types'), topic('multi')], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        try {
        const value = message.value ? ((await registry.decode(message.value)) as Record<string, unknown>) : null;
        let plainValue: Record<string, unknown> | null = null;
        if (message.value) {
          // avsc on its own, with the schema text the registry serves.
          const id = message.value.readUInt32BE(1);
          const type = avro.Type.forSchema(JSON.parse(await registry.getSchema(id).then((x) => JSON.stringify(x))) as avro.Schema, { registry: { long: BigLong } } as never);
          plainValue = type.fromBuffer(message.value.subarray(5)) as Record<string, unknown>;
        }
        seen.push({ key: message.key ? ((await registry.decode(message.key)) as Record<string, unknown>) : null, value, plain: plainValue, partition, headers: Object.keys(message.headers ?? {}) });
        } catch (e) {
          errors.push(e as Error);
        }
      },
    });
    try {
      await waitFor('the records of types and multi', () => {
        if (errors.length > 0) throw errors[0];
        // Every record the assertions below look at: each op, row 1's insert, row 3's TOAST update, the three truncates
        // of multi (types spreads its keys over partitions, so one record arriving says nothing of another).
        const ops = new Set(seen.map((r) => r.value?.op ?? 'tombstone'));
        const after = (r: (typeof seen)[number]): { id?: unknown } | null => (r.value?.after as { id?: unknown } | null) ?? null;
        return (
          ['r', 'c', 'u', 'd', 't', 'tombstone'].every((op) => ops.has(op)) &&
          seen.filter((r) => r.value?.op === 't').length >= 3 &&
          seen.some((r) => r.value?.op === 'c' && after(r)?.id === 1n) &&
          seen.some((r) => r.value?.op === 'u' && after(r)?.id === 3n)
        );
      }, { timeoutMs: 60_000, describe: () => `${seen.length} records decoded; ${errors.map((e) => e.stack).join('\n')}` });
    } finally {
      await consumer.disconnect();
    }
    const ops = new Set(seen.map((r) => r.value?.op ?? 'tombstone'));
    for (const op of ['r', 'c', 'u', 'd', 't', 'tombstone']) assert.ok(ops.has(op), `op ${op} among ${[...ops].join(',')}`);
    const one = seen.find((r) => r.value?.op === 'c' && (r.value.after as { id: bigint }).id === 1n);
    assert.ok(one?.value && one.plain);
    const a = one.value.after as Record<string, unknown>;
    assert.equal(a.at, '2024-01-02T01:04:05.123456Z');
    assert.equal(a.tz, '08:11:12.5Z');
    assert.equal(a.dur, 37_091_106_500_000n);
    assert.equal(a.b1, true);
    assert.equal((a.b8 as Buffer).toString('hex'), 'a5');
    assert.equal(a.mood, 'ok');
    assert.deepEqual({ ...one.key }, { id: 1n });
    assert.equal((one.value.source as { connector: string }).connector, 'postgresql');
    assert.equal(one.value.transaction, null);
    assert.ok(typeof one.value.ts_ns === 'bigint');
    assert.deepEqual(Object.keys(one.plain).sort(), ['after', 'before', 'op', 'source', 'transaction', 'ts_ms', 'ts_ns', 'ts_us']);
    const toast = seen.find((r) => r.value?.op === 'u' && (r.value.after as { id: bigint }).id === 3n);
    assert.equal((toast?.value?.after as { big: string }).big, '__debezium_unavailable_value');
    const truncates = seen.filter((r) => r.value?.op === 't');
    assert.ok(truncates.every((r) => r.key === null), 'truncates have a null key, as Debezium writes them');
    assert.deepEqual(new Set(truncates.map((r) => r.partition)), new Set([0, 1, 2]), 'one truncate on each partition of multi');
    assert.ok(truncates.every((r) => r.headers.includes('walrelay.truncate')));
  });

  test('the JDBC sink is still running (no task failed on any record)', async () => {
    const s = await connectorStatus(connector);
    assert.equal(s.connector?.state, 'RUNNING');
    assert.ok((s.tasks ?? []).every((t) => t.state === 'RUNNING'), JSON.stringify(s).slice(0, 2000));
  });
});

describe('format debezium refuses a compacted table topic (Debezium truncates have a null key)', () => {
  const p = new TestPipeline('dbz2c');

  after(async () => {
    await p.cleanup();
  });

  test('an existing compacted topic stops the source with an error naming the topic, the table and the fix', async () => {
    await p.setup((s) => [`CREATE TABLE ${s}.items (id int4 PRIMARY KEY, val text)`, `INSERT INTO ${s}.items VALUES (1, 'x')`]);
    const admin = testKafka().admin();
    await admin.connect();
    const compacted = tableTopic(p.prefix, p.schema, 'items');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: compacted, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    p.capture('items');
    const source = p.startSource({ WALRELAY_FORMAT: 'debezium' });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([source.exited, new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), 120_000)))]);
    clearTimeout(timer);
    assert.equal(code, 2, `the source exits as on a configuration error\n${source.output().slice(-2000)}`);
    assert.match(source.output(), new RegExp(`topic ${compacted.replace(/\./g, '\\.')} of table ${p.schema}\\.items has cleanup\\.policy=compact.*cleanup\\.policy=delete`));
  });
});
