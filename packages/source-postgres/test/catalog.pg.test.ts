/**
 * Against a real PostgreSQL (127.0.0.1:5432, user postgres, database walrelay): catalog
 * shapes, value conversion of what PostgreSQL prints, and the Avro round trip.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ValueError, avroType, decodeAvro, deriveChangeSchemas, encodeAvro } from '@walrelay/core';
import type { ColumnSpec, SchemaColumn } from '@walrelay/core';
import { describeTable, describeTableByName, listCapturableTables, quoteIdent, shapeMatchesRelation } from '../src/catalog.js';
import type { TableShapeWithOid } from '../src/catalog.js';
import { sessionOptions } from '../src/replication/session-settings.js';
import {
  DATE_NEG_INFINITY,
  DATE_POS_INFINITY,
  TIMESTAMP_NEG_INFINITY,
  TIMESTAMP_POS_INFINITY,
  textToValue,
  valueConverter,
} from '../src/values/pg-text.js';

/** A column as described, attnum included (checked on its own: it depends on the table's history). */
type ColumnWithAttnum = { attnum?: number } & Record<string, unknown>;

const HOST = process.env.PGHOST ?? '127.0.0.1';
const PORT = Number(process.env.PGPORT ?? 5432);
const DB = 'walrelay';
const S = 'walrelay_values_test';
const S2 = 'walrelay_values_test.s"q ü';

async function connect(database: string, options?: string): Promise<pg.Client> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database, ...(options ? { options } : {}) });
    try {
      await client.connect();
      client.on('error', () => {});
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      const code = (error as { code?: string }).code ?? '';
      const retriable = ['ECONNREFUSED', 'ECONNRESET', '57P03', '57P01', '08006', '08001'].includes(code);
      if (!retriable || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

let client: pg.Client;

/** Raw text output of every column (the output functions, as pgoutput sends them). */
const RAW: pg.CustomTypesConfig = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

async function rawRows(sql: string): Promise<{ fields: string[]; rows: (string | null)[][] }> {
  const r = await client.query<(string | null)[]>({ text: sql, rowMode: 'array', types: RAW });
  return { fields: r.fields.map((f) => f.name), rows: r.rows };
}

const T = (name: string): string => `${quoteIdent(S)}.${quoteIdent(name)}`;

before(async () => {
  const admin = await connect('postgres');
  try {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB]);
    if (r.rowCount === 0) await admin.query(`CREATE DATABASE ${quoteIdent(DB)}`).catch(() => {});
  } finally {
    await admin.end();
  }
  client = await connect(DB, sessionOptions());
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(S)} CASCADE`);
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(S2)} CASCADE`);
  await client.query(`
    CREATE SCHEMA ${quoteIdent(S)};
    SET search_path = ${quoteIdent(S)};
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
  `);
  // A new enum value must be committed before use: a separate (implicit) transaction.
  await client.query(`
    SET search_path = ${quoteIdent(S)};
    CREATE DOMAIN money2 AS numeric(10,2);
    CREATE DOMAIN money2_nested AS money2 CHECK (VALUE > -1000);
    CREATE DOMAIN nn_text AS text NOT NULL;
    CREATE TABLE all_types (
      id int8 NOT NULL,
      c_dropped int,
      k2 text NOT NULL,
      c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8,
      c_dec numeric(20,4), c_num numeric, c_f4 float4, c_f8 float8,
      c_text text, c_varchar varchar(10), c_char char(3), c_bytea bytea, c_uuid uuid,
      c_json json, c_jsonb jsonb, c_date date, c_time time, c_timetz timetz,
      c_ts timestamp, c_tstz timestamptz, c_ts3 timestamp(3), c_interval interval, c_enum mood,
      c_int4arr int4[], c_textarr text[], c_decarr numeric(10,2)[], c_enumarr mood[], c_tsarr timestamptz[],
      c_money2 money2, c_nested money2_nested, c_nntext nn_text, c_domarr money2[],
      c_inet inet, c_box box, c_boxarr box[],
      c_gen int8 GENERATED ALWAYS AS (c_int4::int8 * 2) STORED,
      PRIMARY KEY (k2, id)
    );
    ALTER TABLE all_types DROP COLUMN c_dropped;
    INSERT INTO all_types (id, k2, c_bool, c_int2, c_int4, c_int8, c_dec, c_num, c_f4, c_f8, c_text, c_varchar, c_char,
      c_bytea, c_uuid, c_json, c_jsonb, c_date, c_time, c_timetz, c_ts, c_tstz, c_ts3, c_interval, c_enum,
      c_int4arr, c_textarr, c_decarr, c_enumarr, c_tsarr, c_money2, c_nested, c_nntext, c_domarr, c_inet, c_box, c_boxarr)
    VALUES
     (1, 'a', true, 32767, -2147483648, -9223372036854775808, -1234567890123456.1234, 'NaN', 'NaN', 'Infinity',
      'héllo "q", \\ ü', 'varchar10!', 'ab', '\\x00ff10', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"a": 1}', '{"b": [1, 2]}',
      '4714-11-24 BC', '24:00:00', '12:00:00+05:30', '0044-03-15 12:00:00.5 BC', '2024-06-01 18:00:45.123456+05:30',
      '2024-01-01 00:00:00.123', '1 year 2 months -3 days 04:05:06.7', 'happy',
      '{1,NULL,3}', ARRAY['a', 'NULL', NULL, 'x "q" ,y', '\\', '', '{}', ' lead'], '{1.5,NaN,-0.01}', '{ok,meh}',
      ARRAY['2024-06-01 00:00:00+00'::timestamptz, 'infinity', NULL],
      12345678.91, -999.99, 'x', '{1.00,NULL}', '10.0.0.0/8', '((0,0),(1,1))', ARRAY['((0,0),(1,1))'::box, '((2,2),(3,3))']),
     (2, 'b', false, -32768, 2147483647, 9223372036854775807, '-0.0000', '-123.4500', '3.4028235e+38', '-1.7976931348623157e+308',
      '', 'x', 'abc', '\\x', '00000000-0000-0000-0000-000000000000', 'null', '[]',
      '10000-01-01', '00:00:00', '23:59:59.999999-12', '10000-01-01 00:00:00', '1850-01-01 00:00:00+00',
      '294246-12-31 23:59:59.999', 'P0D', 'meh',
      '{}', '{}', '{}', '{}', '{}', -0.01, 0, '', '{}', '::1', '((0,0),(0,0))', '{}'),
     (3, 'c d', NULL, 0, 0, 0, '0.0001', 'Infinity', '1e-45', '5e-324', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
      'infinity', '23:59:59.999999', NULL, '-infinity', 'infinity', 'infinity', NULL, NULL,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'y', NULL, NULL, NULL, NULL),
     (4, 'nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
      '-infinity', NULL, NULL, '1969-12-31 23:59:59.999999', '-infinity', NULL, NULL, NULL,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'z', NULL, NULL, NULL, NULL);

    CREATE TABLE nopk (a int, b text);
    CREATE TABLE ri_full (a int, b text);
    ALTER TABLE ri_full REPLICA IDENTITY FULL;
    CREATE TABLE ri_index (a int NOT NULL, b text NOT NULL, c int);
    CREATE UNIQUE INDEX ri_index_uq ON ri_index (b, a);
    ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_uq;
    CREATE TABLE pk_full (id int PRIMARY KEY, v text);
    ALTER TABLE pk_full REPLICA IDENTITY FULL;
    CREATE TABLE pk_and_ri (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
    CREATE UNIQUE INDEX pk_and_ri_uq ON pk_and_ri (b, a);
    ALTER TABLE pk_and_ri REPLICA IDENTITY USING INDEX pk_and_ri_uq;
    CREATE TABLE parted (id int, d date, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
    CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE UNLOGGED TABLE unlogged_t (id int PRIMARY KEY);
    CREATE VIEW a_view AS SELECT 1 AS x;
    CREATE TABLE odd_numeric (id int PRIMARY KEY, small numeric(3,5), neg numeric(5,-2), d numeric(5,5));
    INSERT INTO odd_numeric VALUES (1, 0.00123, 12300, 0.12345);
    CREATE TABLE multi (id int PRIMARY KEY, m int[]);
    INSERT INTO multi VALUES (1, '{{1,2},{3,4}}'), (2, '[0:1]={5,6}');
    CREATE TABLE "we""ird . name ü" (id int PRIMARY KEY, "col ""x""" text, "Sp ace" int);
    CREATE TABLE "a.b" ("x.y" int PRIMARY KEY);
    CREATE TABLE "MiXed" (id int);
    CREATE SCHEMA ${quoteIdent(S2)};
    CREATE TABLE ${quoteIdent(S2)}."t.1" (id int PRIMARY KEY);
    RESET search_path;
  `);
});

after(async () => {
  if (!client) return;
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(S)} CASCADE`).catch(() => {});
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(S2)} CASCADE`).catch(() => {});
  await client.end();
});

function numericTypmod(p: number, s: number): number {
  return ((p << 16) | s) + 4;
}

async function shapeOf(table: string): Promise<TableShapeWithOid> {
  return describeTableByName(client, S, table);
}

function byName(shape: TableShapeWithOid, name: string): SchemaColumn {
  const c = shape.columns.find((x) => x.name === name);
  assert.ok(c, `column ${name}`);
  return c;
}

test('describeTable: ColumnSpecs of every supported type', async () => {
  const shape = await shapeOf('all_types');
  const moodLabels = ['sad', 'meh', 'ok', 'happy'];
  const base = { nullable: true, key: null, typmod: -1 };
  const expected: Record<string, Partial<ColumnSpec>> = {
    id: { kind: 'int64', pgType: 'int8', nullable: false, key: 2 },
    k2: { kind: 'text', pgType: 'text', nullable: false, key: 1 },
    c_bool: { kind: 'boolean', pgType: 'bool' },
    c_int2: { kind: 'int16', pgType: 'int2' },
    c_int4: { kind: 'int32', pgType: 'int4' },
    c_int8: { kind: 'int64', pgType: 'int8' },
    c_dec: { kind: 'decimal', pgType: 'numeric', typmod: numericTypmod(20, 4), precision: 20, scale: 4 },
    c_num: { kind: 'numeric', pgType: 'numeric' },
    c_f4: { kind: 'float32', pgType: 'float4' },
    c_f8: { kind: 'float64', pgType: 'float8' },
    c_text: { kind: 'text', pgType: 'text' },
    c_varchar: { kind: 'text', pgType: 'varchar', typmod: 14, length: 10 },
    c_char: { kind: 'text', pgType: 'bpchar', typmod: 7, length: 3 },
    c_bytea: { kind: 'bytes', pgType: 'bytea' },
    c_uuid: { kind: 'uuid', pgType: 'uuid' },
    c_json: { kind: 'json', pgType: 'json' },
    c_jsonb: { kind: 'json', pgType: 'jsonb' },
    c_date: { kind: 'date', pgType: 'date' },
    c_time: { kind: 'time', pgType: 'time' },
    c_timetz: { kind: 'timetz', pgType: 'timetz' },
    c_ts: { kind: 'timestamp', pgType: 'timestamp' },
    c_tstz: { kind: 'timestamptz', pgType: 'timestamptz' },
    c_ts3: { kind: 'timestamp', pgType: 'timestamp', typmod: 3, precision: 3 },
    c_interval: { kind: 'interval', pgType: 'interval' },
    c_enum: { kind: 'enum', pgType: 'mood', enumLabels: moodLabels },
    c_int4arr: { kind: 'array', pgType: '_int4', element: 'int32', elementPgType: 'int4' },
    c_textarr: { kind: 'array', pgType: '_text', element: 'text', elementPgType: 'text' },
    c_decarr: {
      kind: 'array',
      pgType: '_numeric',
      typmod: numericTypmod(10, 2),
      element: 'decimal',
      elementPgType: 'numeric',
      precision: 10,
      scale: 2,
    },
    c_enumarr: { kind: 'array', pgType: '_mood', element: 'enum', elementPgType: 'mood', enumLabels: moodLabels },
    c_tsarr: { kind: 'array', pgType: '_timestamptz', element: 'timestamptz', elementPgType: 'timestamptz' },
    c_money2: { kind: 'decimal', pgType: 'numeric', domain: 'money2', typmod: numericTypmod(10, 2), precision: 10, scale: 2 },
    c_nested: { kind: 'decimal', pgType: 'numeric', domain: 'money2_nested', typmod: numericTypmod(10, 2), precision: 10, scale: 2 },
    c_nntext: { kind: 'text', pgType: 'text', domain: 'nn_text', nullable: false },
    c_domarr: {
      kind: 'array',
      pgType: '_money2',
      element: 'decimal',
      elementPgType: 'numeric',
      typmod: numericTypmod(10, 2),
      precision: 10,
      scale: 2,
    },
    c_inet: { kind: 'other', pgType: 'inet' },
    c_box: { kind: 'other', pgType: 'box' },
    c_boxarr: { kind: 'array', pgType: '_box', element: 'other', elementPgType: 'box' },
  };
  assert.deepEqual(
    shape.columns.map((c) => c.name),
    Object.keys(expected),
    'attnum order, dropped and generated columns excluded',
  );
  for (const [name, e] of Object.entries(expected)) {
    const { attnum: _attnum, ...spec } = byName(shape, name) as unknown as ColumnWithAttnum;
    assert.deepEqual(spec, { name, field: name, ...base, ...e }, name);
  }
  // attnums follow pg_attribute: increasing, with the gaps dropped columns leave.
  const attnums = shape.columns.map((c) => c.attnum as number);
  assert.ok(attnums.every((n, i) => Number.isInteger(n) && (i === 0 || n > (attnums[i - 1] as number))), `attnums ${attnums.join(',')}`);
  assert.equal(shape.schema, S);
  assert.equal(shape.table, 'all_types');
  assert.equal(shape.replicaIdentity, 'd');
  assert.equal(shape.hasKey, true);
  assert.equal(shape.keySource, 'primary');
  assert.equal(shape.typeOids.length, shape.columns.length);
  assert.equal(shape.typeOids[0], 20);
  assert.equal(shape.attTypmods[shape.columns.findIndex((c) => c.name === 'c_money2')], -1);
  assert.equal(shape.arrayDelimiters[shape.columns.findIndex((c) => c.name === 'c_boxarr')], ';');
  assert.equal(shape.arrayDelimiters[shape.columns.findIndex((c) => c.name === 'c_int4arr')], ',');
  assert.equal(shape.arrayDelimiters[0], null);
  const again = await describeTable(client, shape.relationOid);
  assert.deepEqual(again, shape);
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(shape.columns))), JSON.stringify(shape.columns), 'JSON-clean');
});

test('describeTable: keys from PK, replica identity index, none', async () => {
  const ri = await shapeOf('ri_index');
  assert.equal(ri.replicaIdentity, 'i');
  assert.equal(ri.keySource, 'replica-identity-index');
  assert.deepEqual(ri.columns.map((c) => [c.name, c.key]), [['a', 2], ['b', 1], ['c', null]]);
  const both = await shapeOf('pk_and_ri');
  assert.equal(both.keySource, 'replica-identity-index', 'pgoutput sends the RI index columns as the old key');
  assert.deepEqual(both.columns.map((c) => [c.name, c.key]), [['id', null], ['a', 2], ['b', 1]]);
  const nopk = await shapeOf('nopk');
  assert.equal(nopk.hasKey, false);
  assert.equal(nopk.keySource, null);
  const full = await shapeOf('ri_full');
  assert.equal(full.replicaIdentity, 'f');
  assert.equal(full.hasKey, false);
  const pkFull = await shapeOf('pk_full');
  assert.equal(pkFull.replicaIdentity, 'f');
  assert.equal(pkFull.keySource, 'primary');
  const parted = await shapeOf('parted');
  assert.deepEqual(parted.columns.map((c) => c.key), [1, 2]);
  await assert.rejects(describeTableByName(client, S, 'a_view'), /does not exist/);
  await assert.rejects(describeTableByName(client, S, 'no such'), /does not exist/);
  await assert.rejects(describeTable(client, 1), /does not exist/);
});

test('numeric(p,s) that Avro decimal cannot describe (scale > precision, negative scale) stays text', async () => {
  const shape = await shapeOf('odd_numeric');
  assert.deepEqual(shape.columns.map((c) => [c.name, c.kind, c.precision, c.scale]), [
    ['id', 'int32', undefined, undefined],
    ['small', 'numeric', undefined, undefined],
    ['neg', 'numeric', undefined, undefined],
    ['d', 'decimal', 5, 5],
  ]);
  const { rows } = await rawRows(`SELECT small, neg, d FROM ${T('odd_numeric')}`);
  const [small, neg, d] = rows[0] as string[];
  assert.equal(textToValue(byName(shape, 'small'), small as string), '0.00123');
  assert.equal(textToValue(byName(shape, 'neg'), neg as string), '12300');
  assert.equal(textToValue(byName(shape, 'd'), d as string), '0.12345');
});

test('hostile names: quotes, spaces, dots, unicode, case', async () => {
  const w = await shapeOf('we"ird . name ü');
  assert.deepEqual(w.columns.map((c) => [c.name, c.field, c.key]), [
    ['id', 'id', 1],
    ['col "x"', 'col__x_', null],
    ['Sp ace', 'Sp_ace', null],
  ]);
  const ab = await shapeOf('a.b');
  assert.deepEqual(ab.columns.map((c) => c.name), ['x.y']);
  const s2 = await describeTableByName(client, S2, 't.1');
  assert.equal(s2.schema, S2);
  assert.equal(s2.table, 't.1');
  await assert.rejects(describeTableByName(client, S, 'mixed'), /does not exist/);
  assert.equal((await shapeOf('MiXed')).table, 'MiXed');
});

test('listCapturableTables: capturable, keyless, partitions, filters', async () => {
  const all = await listCapturableTables(client);
  const mine = (xs: { schema: string; table: string }[]) =>
    xs.filter((x) => x.schema === S || x.schema === S2).map((x) => `${x.schema}|${x.table}`).sort();
  assert.deepEqual(mine(all.capturable), [
    `${S2}|t.1`,
    `${S}|a.b`,
    `${S}|all_types`,
    `${S}|multi`,
    `${S}|odd_numeric`,
    `${S}|parted`,
    `${S}|parted_2024`,
    `${S}|pk_and_ri`,
    `${S}|pk_full`,
    `${S}|ri_index`,
    `${S}|we"ird . name ü`,
  ].sort());
  assert.deepEqual(mine(all.keyless), [`${S}|MiXed`, `${S}|nopk`, `${S}|ri_full`].sort());
  assert.equal(all.capturable.find((t) => t.table === 'parted_2024')?.partition, true);
  assert.equal(all.capturable.find((t) => t.table === 'parted')?.partition, false);
  assert.ok(!all.capturable.some((t) => t.schema === 'pg_catalog' || t.schema === 'information_schema'));
  const oid = all.capturable.find((t) => t.table === 'all_types' && t.schema === S)?.oid;
  assert.equal(typeof oid, 'number');
  assert.equal((await describeTable(client, oid as number)).table, 'all_types');

  const filtered = await listCapturableTables(client, [
    `${S}.we"ird . name ü`,
    `${quoteIdent(S2)}.${quoteIdent('t.1')}`,
    `${S}.nopk`,
    `${S}.unlogged_t`,
    `${S}.nothing`,
  ]);
  assert.deepEqual(filtered.capturable.map((t) => t.table).sort(), ['t.1', 'we"ird . name ü']);
  assert.deepEqual(filtered.keyless.map((t) => t.table), ['nopk']);
  assert.deepEqual(filtered.missing, [`${S}.unlogged_t`, `${S}.nothing`]);
});

test('shapeMatchesRelation', async () => {
  const shape = await shapeOf('all_types');
  const rel = shape.columns.map((c, i) => ({ name: c.name, typeOid: shape.typeOids[i] as number, typmod: shape.attTypmods[i] as number }));
  assert.equal(shapeMatchesRelation(shape, rel), true);
  assert.equal(shapeMatchesRelation(shape, rel.slice(1)), false);
  assert.equal(shapeMatchesRelation(shape, [...rel.slice(1), rel[0]!]), false);
  assert.equal(shapeMatchesRelation(shape, rel.map((r, i) => (i === 3 ? { ...r, name: 'renamed' } : r))), false);
  assert.equal(shapeMatchesRelation(shape, rel.map((r, i) => (i === 5 ? { ...r, typeOid: 1700 } : r))), false);
  assert.equal(shapeMatchesRelation(shape, rel.map((r, i) => (i === 10 ? { ...r, typmod: 99 } : r))), false);
  // A plain TableShape (e.g. read back from a schema) compares names only.
  const plain = { schema: shape.schema, table: shape.table, columns: shape.columns };
  assert.equal(shapeMatchesRelation(plain, rel.map((r) => ({ ...r, typeOid: 0 }))), true);
  await client.query(`ALTER TABLE ${T('pk_full')} ALTER COLUMN v TYPE varchar(20)`);
  const pk = await shapeOf('pk_full');
  assert.deepEqual(pk.attTypmods, [-1, 24]);
});

const EXPECT_SQL = (cols: string) => `
SELECT ${cols},
  trunc(extract(epoch FROM c_ts) * 1000000)::text AS e_ts,
  trunc(extract(epoch FROM c_tstz) * 1000000)::text AS e_tstz,
  trunc(extract(epoch FROM c_ts3) * 1000000)::text AS e_ts3,
  trunc(extract(epoch FROM c_time) * 1000000)::text AS e_time,
  CASE WHEN isfinite(c_date) THEN (c_date - date '1970-01-01')::text ELSE c_date::text END AS e_date,
  encode(float4send(c_f4), 'hex') AS e_f4,
  encode(float8send(c_f8), 'hex') AS e_f8,
  encode(c_bytea, 'base64') AS e_bytea,
  array_to_json(c_int4arr)::text AS e_int4arr,
  array_to_json(c_textarr)::text AS e_textarr,
  (c_dec * 10000)::numeric(40,0)::text AS e_dec,
  CASE WHEN c_tsarr IS NOT NULL THEN coalesce(
    (SELECT json_agg(CASE WHEN x IS NULL THEN NULL WHEN isfinite(x) THEN trunc(extract(epoch FROM x) * 1000000)::text ELSE x::text END)
       FROM unnest(c_tsarr) AS x), '[]')::text END AS e_tsarr
FROM ${T('all_types')} ORDER BY id`;

function epochMicros(text: string | null): bigint | null {
  if (text === null) return null;
  if (text === 'Infinity') return TIMESTAMP_POS_INFINITY;
  if (text === '-Infinity') return TIMESTAMP_NEG_INFINITY;
  return BigInt(text);
}

async function convertedRows(shape: TableShapeWithOid): Promise<{ values: Record<string, unknown>[]; expect: Record<string, string | null>[] }> {
  const cols = shape.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  const { fields, rows } = await rawRows(EXPECT_SQL(cols).replace(`FROM ${T('all_types')}`, `FROM ${T('all_types')} t`));
  const converters = shape.columns.map((c, i) => valueConverter(c, { delimiter: shape.arrayDelimiters[i] ?? ',' }));
  const n = shape.columns.length;
  const values = rows.map((row) => {
    const out: Record<string, unknown> = {};
    shape.columns.forEach((c, i) => {
      const text = row[i] as string | null;
      out[c.field] = text === null ? null : (converters[i] as (t: string) => unknown)(text);
      if (text !== null) assert.deepEqual(textToValue(c, text), out[c.field], `textToValue = valueConverter for ${c.name}`);
    });
    return out;
  });
  const expect = rows.map((row) => Object.fromEntries(fields.slice(n).map((f, j) => [f, row[n + j] as string | null])));
  return { values, expect };
}

test('values PostgreSQL prints convert to the right JS values', async () => {
  const shape = await shapeOf('all_types');
  const { values, expect } = await convertedRows(shape);
  assert.equal(values.length, 4);
  for (let r = 0; r < values.length; r++) {
    const v = values[r] as Record<string, unknown>;
    const e = expect[r] as Record<string, string | null>;
    const tag = `row ${r + 1}`;
    assert.equal(v.c_ts, epochMicros(e.e_ts ?? null), `${tag} c_ts`);
    assert.equal(v.c_tstz, epochMicros(e.e_tstz ?? null), `${tag} c_tstz`);
    assert.equal(v.c_ts3, epochMicros(e.e_ts3 ?? null), `${tag} c_ts3`);
    assert.equal(v.c_time, e.e_time == null ? null : BigInt(e.e_time), `${tag} c_time`);
    const d = e.e_date ?? null;
    assert.equal(v.c_date, d === null ? null : d === 'infinity' ? DATE_POS_INFINITY : d === '-infinity' ? DATE_NEG_INFINITY : Number(d), `${tag} c_date`);
    assert.equal(v.c_f4, e.e_f4 == null ? null : Buffer.from(e.e_f4, 'hex').readFloatBE(0), `${tag} c_f4`);
    assert.equal(v.c_f8, e.e_f8 == null ? null : Buffer.from(e.e_f8, 'hex').readDoubleBE(0), `${tag} c_f8`);
    assert.deepEqual(v.c_bytea, e.e_bytea == null ? null : Buffer.from(e.e_bytea, 'base64'), `${tag} c_bytea`);
    assert.deepEqual(v.c_int4arr, e.e_int4arr == null ? null : JSON.parse(e.e_int4arr), `${tag} c_int4arr`);
    assert.deepEqual(v.c_textarr, e.e_textarr == null ? null : JSON.parse(e.e_textarr), `${tag} c_textarr`);
    assert.equal(
      v.c_dec === null ? null : BigInt((v.c_dec as string).replace('.', '')),
      e.e_dec == null ? null : BigInt(e.e_dec),
      `${tag} c_dec`,
    );
    const tsarr = e.e_tsarr == null ? null : (JSON.parse(e.e_tsarr) as (string | null)[]).map((x) => (x === 'infinity' ? TIMESTAMP_POS_INFINITY : epochMicros(x)));
    assert.deepEqual(v.c_tsarr, tsarr, `${tag} c_tsarr`);
  }
  const [r1, r2, r3] = values as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  assert.deepEqual(
    { id: r1.id, k2: r1.k2, b: r1.c_bool, i2: r1.c_int2, i4: r1.c_int4, i8: r1.c_int8, num: r1.c_num, f4: r1.c_f4, f8: r1.c_f8 },
    { id: 1n, k2: 'a', b: true, i2: 32767, i4: -2147483648, i8: -9223372036854775808n, num: 'NaN', f4: NaN, f8: Infinity },
  );
  assert.equal(r1.c_text, 'héllo "q", \\ ü');
  assert.equal(r1.c_char, 'ab ', 'bpchar keeps its padding');
  assert.equal(r1.c_uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  assert.equal(r1.c_jsonb, '{"b": [1, 2]}');
  assert.equal(r1.c_timetz, '12:00:00+05:30');
  assert.equal(r1.c_interval, 'P1Y2M-3DT4H5M6.7S');
  assert.equal(r1.c_enum, 'happy');
  assert.equal(r1.c_dec, '-1234567890123456.1234');
  assert.deepEqual(r1.c_textarr, ['a', 'NULL', null, 'x "q" ,y', '\\', '', '{}', ' lead']);
  assert.deepEqual(r1.c_decarr, ['1.50', 'NaN', '-0.01']);
  assert.deepEqual(r1.c_enumarr, ['ok', 'meh']);
  assert.deepEqual(r1.c_domarr, ['1.00', null]);
  assert.equal(r1.c_money2, '12345678.91');
  assert.equal(r1.c_nested, '-999.99');
  assert.equal(r1.c_inet, '10.0.0.0/8');
  assert.equal(r1.c_box, '(1,1),(0,0)');
  assert.deepEqual(r1.c_boxarr, ['(1,1),(0,0)', '(3,3),(2,2)']);
  assert.equal(r1.c_time, 86_400_000_000n);
  assert.equal(r1.c_date, -2440588);
  assert.equal(r2.c_dec, '0.0000');
  assert.equal(r2.c_num, '-123.4500');
  assert.equal(r2.c_int8, 9223372036854775807n);
  assert.equal(r2.c_date, 2932897);
  assert.deepEqual(r2.c_bytea, Buffer.alloc(0));
  assert.deepEqual(r2.c_int4arr, []);
  assert.equal(r2.c_money2, '-0.01');
  assert.equal(r2.c_nested, '0.00');
  assert.equal(r3.c_date, DATE_POS_INFINITY);
  assert.equal(r3.c_ts, TIMESTAMP_NEG_INFINITY);
  assert.equal(r3.c_tstz, TIMESTAMP_POS_INFINITY);
  assert.equal(r3.c_num, 'Infinity');
  assert.equal(r3.c_f8, 5e-324);
  assert.equal(r3.k2, 'c d');
});

test('timestamptz printed under another TimeZone normalises to the same UTC micros', async () => {
  const other = await connect(DB, '-c TimeZone=Asia/Kolkata -c DateStyle=ISO,MDY');
  try {
    const r = await other.query<string[]>({
      text: `SELECT c_tstz, trunc(extract(epoch FROM c_tstz) * 1000000)::text FROM ${T('all_types')}
              UNION ALL SELECT timestamptz '1850-01-01 00:00:00+00', trunc(extract(epoch FROM timestamptz '1850-01-01 00:00:00+00') * 1000000)::text`,
      rowMode: 'array',
      types: RAW,
    });
    const spec: ColumnSpec = { name: 'tz', kind: 'timestamptz', pgType: 'timestamptz', typmod: -1, nullable: true, key: null };
    let sawSeconds = false;
    for (const [text, micros] of r.rows) {
      if (text == null) continue;
      if (/[+-]\d\d:\d\d:\d\d$/.test(text)) sawSeconds = true;
      assert.equal(textToValue(spec, text), epochMicros(micros ?? null), text);
    }
    assert.ok(sawSeconds, 'an LMT offset with seconds was exercised');
  } finally {
    await other.end();
  }
});

test('multi-dimensional arrays and NaN in numeric(p,s) → ValueError naming the column', async () => {
  const shape = await shapeOf('multi');
  const m = byName(shape, 'm');
  const { rows } = await rawRows(`SELECT m FROM ${T('multi')} ORDER BY id`);
  assert.throws(() => textToValue(m, rows[0]?.[0] as string), (e: unknown) => e instanceof ValueError && /column "m".*multi-dimensional/.test(e.message));
  assert.deepEqual(textToValue(m, rows[1]?.[0] as string), [5, 6]);
  const dec = byName(await shapeOf('all_types'), 'c_dec');
  // PostgreSQL 14+ refuses Infinity in numeric(p,s); NaN is allowed.
  const nan = await rawRows(`SELECT 'NaN'::numeric(20,4)`);
  for (const text of nan.rows[0] as string[]) {
    assert.throws(() => textToValue(dec, text), (e: unknown) => e instanceof ValueError && /c_dec.*Avro decimal/.test(e.message));
  }
});

/** Core's avroType builds a number-backed long for `{type:'long', logicalType:...}` (see report). */
const LOGICAL_LONG_IS_BIGINT = avroType({ type: 'long', logicalType: 'timestamp-micros' }).isValid(1n);
const LOGICAL_LONG_KINDS = new Set(['time', 'timestamp', 'timestamptz']);

function usesLogicalLong(c: ColumnSpec): boolean {
  return LOGICAL_LONG_KINDS.has(c.kind) || (c.kind === 'array' && LOGICAL_LONG_KINDS.has(c.element ?? ''));
}

function source(): Record<string, unknown> {
  return {
    version: '0.1.0', connector: 'postgresql', name: 'test', ts_ms: 0n, ts_us: null, snapshot: 'false', db: DB,
    sequence: null, schema: S, table: 'all_types', txId: null, lsn: null, commit_lsn: null, tx_seq: null, xmin: null,
  };
}

async function roundTrip(keep: (c: ColumnSpec) => boolean): Promise<void> {
  const full = await shapeOf('all_types');
  const { values } = await convertedRows(full);
  const columns = full.columns.filter(keep);
  const shape = { schema: full.schema, table: full.table, columns };
  const schemas = deriveChangeSchemas('walrelay.test.all_types', shape);
  const valueType = avroType(schemas.value);
  const keyType = avroType(schemas.key);
  for (const all of values) {
    const row = Object.fromEntries(columns.map((c) => [c.field, all[c.field]]));
    const envelope = { before: null, after: row, source: source(), op: 'c', ts_ms: null, unchanged_toast: [] };
    const back = decodeAvro(valueType, encodeAvro(valueType, envelope)) as { after: Record<string, unknown> };
    assert.deepEqual({ ...back.after }, row);
    const key = { k2: row.k2, id: row.id };
    const keyBack = decodeAvro(keyType, encodeAvro(keyType, key)) as Record<string, unknown>;
    assert.deepEqual({ ...keyBack }, key);
  }
  // The Value record alone, as a sink reads it.
  const env = JSON.parse(schemas.value) as { namespace: string; fields: { type: unknown }[] };
  const valueRecord = { ...((env.fields[0]?.type as unknown[])[1] as object), namespace: env.namespace };
  const recType = avroType(valueRecord);
  for (const all of values) {
    const row = Object.fromEntries(columns.map((c) => [c.field, all[c.field]]));
    assert.deepEqual({ ...(decodeAvro(recType, encodeAvro(recType, row)) as object) }, row);
  }
}

test('Avro round trip: converted rows encode and decode back equal (all but logical-long columns)', async () => {
  await roundTrip((c) => !usesLogicalLong(c));
});

test(
  'Avro round trip: every column, including time/timestamp (bigint micros)',
  { todo: LOGICAL_LONG_IS_BIGINT ? false : 'core avroType: {type:long, logicalType} is number-backed, not bigint' },
  async () => {
    await roundTrip(() => true);
  },
);
