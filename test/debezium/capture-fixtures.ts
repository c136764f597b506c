/**
 * Captures what a real Debezium PostgreSQL connector writes, as fixtures for the sinks'
 * Debezium decoder tests (packages/sink/test/debezium/fixtures/*.json): every record's raw
 * key and value bytes (Confluent framing, Apicurio content ids), headers, and the schema
 * text of every id, so the unit tests decode exactly what Debezium produced without services.
 *
 *   bash scripts/services.sh up && bash scripts/services.sh up debezium
 *   node --conditions=development --import tsx test/debezium/capture-fixtures.ts
 *
 * Two connector configurations: Debezium's defaults, and one with the settings a migration
 * would typically use (`column.propagate.source.type`, truncates emitted, `time.precision.mode`
 * connect, `interval.handling.mode` string, `decimal.handling.mode` string).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { SchemaRegistryClient, unframe } from '@walrelay/core';
import { pgConnect, q, dropPgArtifacts } from '../support/postgres.js';
import { testKafka } from '../support/kafka.js';
import { REGISTRY_URL, uniqueName } from '../support/env.js';
import { waitFor } from '../support/wait.js';
import { connectAvailable, createConnector, debeziumPostgresConfig, deleteConnector, dropDebeziumArtifacts } from '../support/debezium.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '../../packages/sink/test/debezium/fixtures');

const CONFIGS: Record<string, Record<string, string>> = {
  defaults: {},
  migration: {
    'column.propagate.source.type': '.*',
    'skipped.operations': 'none',
    'time.precision.mode': 'connect',
    'interval.handling.mode': 'string',
    'decimal.handling.mode': 'string',
  },
};

async function capture(name: string, extra: Record<string, string>): Promise<void> {
  const db = await pgConnect();
  const schema = uniqueName('dbzfx');
  const slot = uniqueName('dbzfx');
  const publication = `${slot}_pub`;
  const prefix = `dbzfx_${name}`;
  const connector = `${slot}_c`;
  const s = q(schema);
  await db.query(`CREATE SCHEMA ${s}`);
  await db.query(`CREATE TYPE ${s}.mood AS ENUM ('sad', 'ok', 'happy')`);
  await db.query(`CREATE TABLE ${s}.types (
    id int8 PRIMARY KEY, i2 int2, i4 int4, name text, v varchar(20), c char(3), price numeric(12,3), n numeric,
    f4 float4, f8 float8, flag bool, born date, t time, t3 time(3), tz timetz, at timestamptz, local timestamp, local3 timestamp(3),
    tags text[], ints int4[], doc jsonb, js json, uid uuid, bin bytea, mood ${s}.mood, dur interval,
    b1 bit(1), b8 bit(8), vb varbit(16), x xml, addr inet, cash money, big text)`);
  await db.query(`ALTER TABLE ${s}.types REPLICA IDENTITY DEFAULT`);
  await db.query(`CREATE TABLE ${s}.composite (a int4, b text, val text, PRIMARY KEY (a, b))`);
  await db.query(`INSERT INTO ${s}.types (id, name, price) VALUES (100, 'snapshot row', 1.5)`);

  const topics = [`${prefix}.${schema}.types`, `${prefix}.${schema}.composite`];
  await createConnector(
    connector,
    debeziumPostgresConfig({ topicPrefix: prefix, slot, publication, database: 'walrelay', tables: [`${schema}.types`, `${schema}.composite`], extra }),
  );
  const statements = [
    `INSERT INTO ${s}.types VALUES
      (1, -32768, 2147483647, 'héllo ✓ 😀', 'abc', 'ab', -123456789.123, '1234567890.12345678901234567890', 1.5, 1.7976931348623157e308, true,
       '2024-02-29', '23:59:59.999999', '12:00:00.123', '10:11:12.5+02', '2024-01-02 03:04:05.123456+02', '1999-12-31 23:59:59.5', '2001-02-03 04:05:06.789',
       '{"a b",NULL,"c\\"d"}', '{1,2,-3}', '{"z": 1, "a": [true, null]}', '[1, "x"]', '6f1c2b8e-0000-4000-8000-000000000001', '\\xdeadbeef00', 'ok',
       '1 year 2 mons 3 days 04:05:06.5', B'1', B'10100101', B'1101', '<a>x</a>', '192.168.0.1/24', '12.34', NULL)`,
    `INSERT INTO ${s}.types (id, n, f8, born, at, local, dur) VALUES (2, 'NaN', '-0', '0044-03-15 BC', 'infinity', '-infinity', '-1 days')`,
    `INSERT INTO ${s}.types (id, name, big) SELECT 3, 'toast', string_agg(md5(g::text), '') FROM generate_series(1, 3000) g`,
    `UPDATE ${s}.types SET name = 'toast untouched' WHERE id = 3`,
    `UPDATE ${s}.types SET i4 = 7 WHERE id = 1`,
    `UPDATE ${s}.types SET id = 4 WHERE id = 2`,
    `DELETE FROM ${s}.types WHERE id = 100`,
    `INSERT INTO ${s}.composite VALUES (1, 'x', 'one'), (2, 'y', 'two')`,
    `DELETE FROM ${s}.composite WHERE a = 2`,
    `TRUNCATE ${s}.composite`,
    `INSERT INTO ${s}.composite VALUES (3, 'z', 'after truncate')`,
  ];
  for (const sql of statements) await db.query(sql);

  const kafka = testKafka();
  const consumer = kafka.consumer({ groupId: `walrelay-fixtures-${randomUUID()}` });
  const records: { topic: string; partition: number; offset: string; key: string | null; value: string | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  const admin = kafka.admin();
  await admin.connect();
  await waitFor('Debezium topics', async () => {
    const list = await admin.listTopics();
    return topics.every((t) => list.includes(t));
  }, { timeoutMs: 120_000 });
  await admin.disconnect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      records.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key ? message.key.toString('base64') : null,
        value: message.value ? message.value.toString('base64') : null,
        headers,
      });
    },
  });
  // The last insert into composite is the last change: wait until it arrived.
  await waitFor('the last change', () => records.filter((r) => r.topic === topics[1]).length >= (extra['skipped.operations'] === 'none' ? 6 : 5), { timeoutMs: 120_000 });
  await consumer.disconnect();
  await deleteConnector(connector);

  const registry = new SchemaRegistryClient({ url: REGISTRY_URL });
  const schemas: Record<string, string> = {};
  for (const r of records) {
    for (const b of [r.key, r.value]) {
      if (!b) continue;
      const buf = Buffer.from(b, 'base64');
      if (buf[0] !== 0) continue;
      const { schemaId } = unframe(buf);
      schemas[String(schemaId)] ??= await registry.schemaById(schemaId);
    }
  }
  registry.close();
  mkdirSync(out, { recursive: true });
  const file = join(out, `postgres-${name}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        captured: new Date().toISOString(),
        debezium: '3.6.1.Final (Kafka Connect 4.1.1, Apicurio AvroConverter 2.6.13 in Confluent framing)',
        connectorConfig: extra,
        schema,
        statements,
        schemas,
        records,
      },
      null,
      1,
    ),
  );
  console.log(`${file}: ${records.length} records, ${Object.keys(schemas).length} schemas`);
  await dropDebeziumArtifacts(db, slot, publication);
  await dropPgArtifacts(db, { schema });
  await db.end();
}

if (!(await connectAvailable())) {
  console.error('Kafka Connect with Debezium is not running: bash scripts/services.sh up debezium');
  process.exit(1);
}
for (const [name, extra] of Object.entries(CONFIGS)) await capture(name, extra);
