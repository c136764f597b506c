import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentifierError, ApplyError, ConfigError, ConnectionError, ValueError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import type { ApplyBatch, StoredOffset, TargetTable } from '@walrelay/sink';
import Database from 'better-sqlite3';
import {
  DEFAULT_PAGE_CACHE_KIB,
  SqliteTarget,
  classifySqliteError,
  createTableSql,
  deleteSql,
  quoteIdent,
  saveOffsetsSql,
  sqliteParam,
  sqlitePath,
  upsertSql,
} from '../src/index.js';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name.replace(/[^A-Za-z0-9_]/g, '_'), kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

describe('sqlite SQL builders', () => {
  const shape: TableShape = {
    schema: 'public',
    table: 'orders',
    columns: [col('id', 'int64', { key: 1, nullable: false }), col('re"gion', 'text', { key: 2 }), col('total', 'decimal', { precision: 12, scale: 2 })],
  };
  it('quotes identifiers with doubled double quotes', () => {
    assert.equal(quoteIdent('a"b'), '"a""b"');
    assert.equal(quoteIdent('select'), '"select"');
    assert.throws(() => quoteIdent(''), IdentifierError);
  });
  it('creates, upserts, deletes', () => {
    assert.equal(
      createTableSql('my"orders', shape),
      'CREATE TABLE IF NOT EXISTS "my""orders" (\n  "id" INTEGER NOT NULL,\n  "re""gion" TEXT NOT NULL,\n  "total" TEXT NULL,\n  PRIMARY KEY ("id", "re""gion")\n)',
    );
    assert.equal(
      upsertSql('orders', shape.columns, 2),
      'INSERT INTO "orders" ("id", "re""gion", "total") VALUES (?,?,?), (?,?,?) ON CONFLICT ("id", "re""gion") DO UPDATE SET "total"=excluded."total"',
    );
    assert.equal(upsertSql('orders', shape.columns.slice(0, 2), 1), 'INSERT INTO "orders" ("id", "re""gion") VALUES (?,?) ON CONFLICT ("id", "re""gion") DO NOTHING');
    assert.equal(deleteSql('orders', shape.columns.slice(0, 1), 2), 'DELETE FROM "orders" WHERE "id" IN (?,?)');
    assert.equal(deleteSql('orders', shape.columns.slice(0, 2), 2), 'DELETE FROM "orders" WHERE ("id", "re""gion") IN (VALUES (?,?), (?,?))');
    assert.match(saveOffsetsSql(1), /ON CONFLICT \("group_id", "topic", "kafka_partition"\) DO UPDATE/);
  });
  it('parses target URLs', () => {
    assert.equal(sqlitePath(':memory:'), ':memory:');
    assert.equal(sqlitePath('sqlite:///var/lib/x.db'), '/var/lib/x.db');
    assert.equal(sqlitePath('sqlite:rel/x.db'), 'rel/x.db');
    assert.equal(sqlitePath('/tmp/a b.db'), '/tmp/a b.db');
    assert.equal(sqlitePath('/tmp/what?.db'), '/tmp/what?.db', 'a plain path keeps its ?');
    // A sqlite: URL's query was dropped without a word; now it is refused, naming it.
    assert.throws(() => sqlitePath('sqlite:///var/lib/x.db?cache=shared'), (e: unknown) => e instanceof ConfigError && /query parameters \(\?cache=shared\) would not be read/.test(e.message));
    assert.throws(() => sqlitePath('sqlite:rel.db?mode=ro'), ConfigError);
    // A file: URI used to be passed through, and the driver (which opens paths, not URIs) made a
    // file named after the whole text, query and all. It is read as SQLite reads one now.
    assert.equal(sqlitePath('file:///var/lib/x.db'), '/var/lib/x.db');
    assert.equal(sqlitePath('file://localhost/var/lib/x.db'), '/var/lib/x.db');
    assert.equal(sqlitePath('file:/var/lib/a%20b.db'), '/var/lib/a b.db');
    assert.equal(sqlitePath('file:rel/x.db'), 'rel/x.db');
    assert.equal(sqlitePath('file::memory:'), ':memory:');
    assert.throws(() => sqlitePath('file:x.db?cache=private'), (e: unknown) => e instanceof ConfigError && /query parameters \(\?cache=private\) would not be read/.test(e.message));
    assert.throws(() => sqlitePath('file:x.db#frag'), (e: unknown) => e instanceof ConfigError && /a fragment \(#frag\)/.test(e.message));
    assert.throws(() => sqlitePath('file://otherhost/x.db'), (e: unknown) => e instanceof ConfigError && /names the host otherhost/.test(e.message));
    assert.throws(() => sqlitePath('file:///x%ZZ.db'), (e: unknown) => e instanceof ConfigError && /percent-escape/.test(e.message));
  });
  it("sets the connection's page cache: 4 MB unless target.cacheSizeKiB says otherwise", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'walrelay-sqlite-cache-'));
    try {
      for (const [options, expected] of [[{}, -DEFAULT_PAGE_CACHE_KIB], [{ cacheSizeKiB: 16_384 }, -16_384]] as const) {
        const t = new SqliteTarget({ url: join(dir, 'c.db'), ...options });
        await t.connect();
        assert.equal(Number(t.database.pragma('cache_size', { simple: true })), expected);
        await t.close();
      }
      assert.equal(DEFAULT_PAGE_CACHE_KIB, 4096);
      assert.throws(() => new SqliteTarget({ url: join(dir, 'c.db'), cacheSizeKiB: 0 }), (e: unknown) => e instanceof ConfigError && /target\.cacheSizeKiB/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('converts values', () => {
    assert.equal(sqliteParam(col('b', 'boolean'), true, 't'), 1);
    assert.equal(sqliteParam(col('f', 'float64'), Number.NaN, 't'), 'NaN');
    assert.equal(sqliteParam(col('d', 'date'), 2_147_483_647, 't'), 'infinity');
    assert.equal(sqliteParam(col('ts', 'timestamptz'), -9_223_372_036_854_775_808n, 't'), '-infinity');
    assert.throws(() => sqliteParam(col('d', 'date'), 3_000_000, 'ev'), (e: unknown) => e instanceof ValueError && /ev\.d/.test(e.message));
  });
  it('classifies errors', () => {
    const busy = classifySqliteError(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), 'x');
    assert.ok(busy instanceof ApplyError && busy.retriable);
    assert.ok(classifySqliteError(Object.assign(new Error('NOT NULL'), { code: 'SQLITE_CONSTRAINT_NOTNULL' }), 'x') instanceof ValueError);
    assert.equal(classifySqliteError(Object.assign(new Error('no such table'), { code: 'SQLITE_ERROR' }), 'x').retriable, false);
  });
});

const ALL: SchemaColumn[] = [
  col('id', 'int64', { key: 1, nullable: false }),
  col('b', 'boolean'),
  col('i16', 'int16'),
  col('i32', 'int32'),
  col('i64', 'int64'),
  col('f32', 'float32'),
  col('f64', 'float64'),
  col('dec', 'decimal', { precision: 30, scale: 10 }),
  col('num', 'numeric'),
  col('txt', 'text'),
  col('vc', 'text', { length: 20 }),
  col('bin', 'bytes'),
  col('u', 'uuid'),
  col('j', 'json'),
  col('d', 'date'),
  col('t', 'time', { precision: 6 }),
  col('ttz', 'timetz'),
  col('ts', 'timestamp', { precision: 6 }),
  col('tstz', 'timestamptz', { precision: 6 }),
  col('iv', 'interval'),
  col('e', 'enum'),
  col('arr', 'array', { element: 'bytes' }),
  col('oth', 'other', { pgType: 'inet' }),
];
const SHAPE: TableShape = { schema: 'public', table: 'all_kinds', columns: ALL };
const BYTES = Buffer.concat([Buffer.from([0, 1, 2, 255, 0x22, 0x27]), randomBytes(300)]);
const FULL_ROW: unknown[] = [
  9_223_372_036_854_775_807n,
  false,
  32767,
  -2147483648,
  -9_223_372_036_854_775_808n,
  Math.fround(1.1),
  Number.NEGATIVE_INFINITY,
  '-12345678901234567890.0123456789',
  '0.000000000000000000000000000000000000000000000000001230',
  'héllo 🦭 "dq" \'sq\' \\ \n\ttab',
  'exactly twenty chars',
  BYTES,
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a":[1,2,{"b":null}]}',
  -719_162,
  0n,
  '00:00:00+14',
  -62_135_596_800_000_000n,
  9_223_372_036_854_775_807n,
  'PT0.000001S',
  'sad',
  [Buffer.from([1, 2]), null],
  '::1/128',
];
const EXPECTED: Record<string, unknown> = {
  id: 9_223_372_036_854_775_807n,
  b: 0n,
  i16: 32767n,
  i32: -2147483648n,
  i64: -9_223_372_036_854_775_808n,
  f32: Math.fround(1.1),
  f64: Number.NEGATIVE_INFINITY,
  dec: '-12345678901234567890.0123456789',
  num: '0.000000000000000000000000000000000000000000000000001230',
  txt: 'héllo 🦭 "dq" \'sq\' \\ \n\ttab',
  vc: 'exactly twenty chars',
  bin: BYTES,
  u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  j: '{"a":[1,2,{"b":null}]}',
  d: '0001-01-01',
  t: '00:00:00.000000',
  ttz: '00:00:00+14',
  ts: '0001-01-01 00:00:00.000000',
  tstz: 'infinity',
  iv: 'PT0.000001S',
  e: 'sad',
  arr: '["AQI=",null]',
  oth: '::1/128',
};

describe('SqliteTarget on a real SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'walrelay-sqlite-'));
  const file = join(dir, 'target "ü".db');
  let target: SqliteTarget;
  const table: TargetTable = { name: 'all_kinds', shape: SHAPE };
  const GROUP = 'g1';
  const offset = (partition: number, nextOffset: bigint, sourceLsn: bigint | null = null): StoredOffset => ({
    groupId: GROUP,
    topic: 'walrelay.public.all_kinds',
    partition,
    nextOffset,
    sourceLsn,
  });
  const batch = (t: TargetTable, steps: ApplyBatch['steps'], offsets: StoredOffset[] = []): ApplyBatch => ({ table: t, steps, offsets });
  const rows = (name: string, orderBy = 'id') =>
    target.database
      .prepare(`SELECT * FROM ${quoteIdent(name)} ORDER BY ${quoteIdent(orderBy)}`)
      .safeIntegers(true)
      .all() as Array<Record<string, unknown>>;

  before(async () => {
    target = new SqliteTarget({ url: `sqlite://${file}`, maxRowsPerStatement: 64 });
    await target.connect();
    await target.ensureOffsetsTable();
    await target.ensureOffsetsTable();
  });
  after(async () => {
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode with synchronous=FULL', () => {
    assert.equal(target.database.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(target.database.pragma('synchronous', { simple: true }), 2);
  });

  it('creates a table covering every kind', async () => {
    assert.equal(await target.existingColumns('all_kinds'), null);
    await target.createTable(table);
    await target.createTable(table);
    assert.deepEqual(await target.existingColumns('all_kinds'), ALL.map((c) => c.name));
  });

  it('round-trips every kind exactly, offsets in the same transaction', async () => {
    await target.apply(batch(table, [{ kind: 'upsert', columns: ALL, rows: [FULL_ROW, [1n, ...ALL.slice(1).map(() => null)]] }], [offset(0, 3n, 0xffff_ffff_0000_0001n)]));
    const [r1, r2] = rows('all_kinds');
    assert.ok(r1 && r2);
    for (const c of ALL.slice(1)) assert.equal(r1[c.name], null, `null ${c.name}`);
    for (const [k, v] of Object.entries(EXPECTED)) assert.deepEqual(r2[k], v, `column ${k}`);
    assert.deepEqual(await target.loadOffsets(GROUP), [offset(0, 3n, 0xffff_ffff_0000_0001n)]);
    // NaN survives as text (a bound NaN would become NULL).
    await target.apply(batch(table, [{ kind: 'upsert', columns: [ALL[0]!, ALL[6]!], rows: [[5n, Number.NaN]] }]));
    assert.equal(rows('all_kinds').find((r) => r['id'] === 5n)?.['f64'], 'NaN');
  });

  it('partial upserts leave other columns unchanged', async () => {
    await target.apply(batch(table, [{ kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: [[9_223_372_036_854_775_807n, 'changed']] }], [offset(0, 4n)]));
    const r = rows('all_kinds').find((x) => x['id'] === 9_223_372_036_854_775_807n);
    assert.equal(r?.['txt'], 'changed');
    for (const [k, v] of Object.entries(EXPECTED)) if (k !== 'txt') assert.deepEqual(r?.[k], v, `column ${k}`);
    assert.deepEqual(await target.loadOffsets(GROUP), [offset(0, 4n)]);
  });

  it('applies many rows and deletes in order (statement shapes cached)', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => [BigInt(100 + i), `r${i}`]);
    await target.apply(
      batch(table, [
        { kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: many },
        { kind: 'delete', columns: [ALL[0]!], keys: [[1n], [100n], [5n], [12345n]] },
        { kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: [[100n, 'back']] },
      ]),
    );
    const all = rows('all_kinds');
    assert.equal(all.length, 1001);
    assert.equal(all.find((r) => r['id'] === 100n)?.['txt'], 'back');
    assert.equal(all.find((r) => r['id'] === 1n), undefined);
  });

  it('idle: the prepared statements and the page cache are dropped, and the next batch prepares what it needs again', async () => {
    const before = rows('all_kinds').length;
    target.releaseIdleMemory();
    assert.equal(target.database.pragma('cache_size', { simple: true }), -4096, 'the cache size setting stays');
    const more = Array.from({ length: 200 }, (_, i) => [BigInt(5000 + i), `idle${i}`]);
    await target.apply(batch(table, [{ kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: more }]));
    const all = rows('all_kinds');
    assert.equal(all.length, before + 200);
    assert.equal(all.find((r) => r['id'] === 5199n)?.['txt'], 'idle199');
    await target.apply(batch(table, [{ kind: 'delete', columns: [ALL[0]!], keys: more.map((r) => [r[0]]) }]));
    assert.equal(rows('all_kinds').length, before);
  });

  it('a failing batch changes neither rows nor offsets', async () => {
    const strict: TargetTable = {
      name: 'strict_t',
      shape: { schema: 'public', table: 'strict_t', columns: [col('id', 'int32', { key: 1, nullable: false }), col('must', 'text', { nullable: false })] },
    };
    await target.createTable(strict);
    await target.apply(batch(strict, [{ kind: 'upsert', columns: strict.shape.columns, rows: [[1, 'one']] }]));
    const before = rows('strict_t');
    const offsets = await target.loadOffsets(GROUP);
    // Second step fails inside SQLite: NULL into a NOT NULL column.
    await assert.rejects(
      target.apply(
        batch(
          strict,
          [
            { kind: 'delete', columns: [strict.shape.columns[0]!], keys: [[1]] },
            { kind: 'upsert', columns: strict.shape.columns, rows: [[2, null]] },
          ],
          [offset(0, 50n)],
        ),
      ),
      (e: unknown) => e instanceof ValueError && /strict_t/.test(e.message) && /NOT NULL/i.test(e.message),
    );
    // Second step refused by walrelay before SQLite sees the batch: a date beyond 9999, a null key.
    await assert.rejects(
      target.apply(batch(table, [{ kind: 'truncate' }, { kind: 'upsert', columns: [ALL[0]!, ALL[14]!], rows: [[7n, 5_000_000]] }], [offset(0, 51n)])),
      (e: unknown) => e instanceof ValueError && /all_kinds\.d/.test(e.message),
    );
    await assert.rejects(
      target.apply(batch(table, [{ kind: 'truncate' }, { kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: [[null, 'x']] }], [offset(0, 52n)])),
      (e: unknown) => e instanceof ValueError && /all_kinds\.id/.test(e.message),
    );
    assert.deepEqual(rows('strict_t'), before);
    assert.equal(rows('all_kinds').length, 1001);
    assert.deepEqual(await target.loadOffsets(GROUP), offsets);
  });

  it('truncates inside the transaction', async () => {
    await target.apply(batch(table, [{ kind: 'truncate' }, { kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: [[42n, 'after']] }], [offset(0, 60n), offset(2, 1n)]));
    assert.deepEqual(
      rows('all_kinds').map((r) => [r['id'], r['txt']]),
      [[42n, 'after']],
    );
    assert.deepEqual(
      (await target.loadOffsets(GROUP)).map((o) => [o.partition, o.nextOffset]),
      [
        [0, 60n],
        [2, 1n],
      ],
    );
  });

  it('adds columns', async () => {
    const added = [col('new one', 'int64'), col('order', 'json', { nullable: false })];
    const shape: TableShape = { ...SHAPE, columns: [...ALL, ...added] };
    await target.addColumns({ name: 'all_kinds', shape }, added);
    await target.addColumns({ name: 'all_kinds', shape }, added);
    assert.deepEqual((await target.existingColumns('all_kinds'))?.slice(-2), ['new one', 'order']);
    await target.apply(batch({ name: 'all_kinds', shape }, [{ kind: 'upsert', columns: [ALL[0]!, ...added], rows: [[42n, 1n, '{}']] }]));
    const r = rows('all_kinds')[0];
    assert.deepEqual([r?.['new one'], r?.['order'], r?.['txt']], [1n, '{}', 'after']);
  });

  it('hostile identifiers and composite text/uuid keys', async () => {
    const name = 'we`ird "t\'able" [x] ü select';
    const k1 = col('select', 'text', { key: 1, nullable: false });
    const k2 = col('order', 'uuid', { key: 2, nullable: false });
    const v1 = col('a`b"c\'d]e', 'text');
    const v2 = col('sp ace 🦭', 'int32');
    const shape: TableShape = { schema: 'public', table: name, columns: [k1, k2, v1, v2] };
    const t: TargetTable = { name, shape };
    await target.createTable(t);
    assert.deepEqual(await target.existingColumns(name), ['select', 'order', 'a`b"c\'d]e', 'sp ace 🦭']);
    const u = '00000000-0000-0000-0000-000000000001';
    await target.apply(
      batch(t, [
        {
          kind: 'upsert',
          columns: shape.columns,
          rows: [
            ['Key', u, 'v', 1],
            ['key', u, 'w', 2],
            ["k'); DROP TABLE x; --", u, '"', 3],
          ],
        },
      ]),
    );
    await target.apply(batch(t, [{ kind: 'upsert', columns: [k1, k2, v2], rows: [['Key', u, 10]] }, { kind: 'delete', columns: [k1, k2], keys: [['key', u]] }]));
    assert.deepEqual(
      rows(name, 'sp ace 🦭').map((r) => [r['select'], r['a`b"c\'d]e'], r['sp ace 🦭']]),
      [
        ["k'); DROP TABLE x; --", '"', 3n],
        ['Key', 'v', 10n],
      ],
    );
    target.database.exec(`CREATE UNIQUE INDEX "uq ""v""" ON ${quoteIdent(name)} (${quoteIdent('a`b"c\'d]e')})`);
    assert.deepEqual(await target.extraUniqueIndexes(name), ['uq "v"']);
  });

  it('a locked database is a retriable error', async () => {
    const other = new Database(file);
    other.pragma('busy_timeout = 0');
    const blocker = new SqliteTarget({ url: file, busyTimeoutMs: 0 });
    await blocker.connect();
    other.exec('BEGIN IMMEDIATE');
    try {
      await assert.rejects(
        blocker.apply(batch(table, [{ kind: 'truncate' }])),
        (e: unknown) => e instanceof ApplyError && e.retriable && /SQLITE_BUSY/.test(e.message),
      );
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await blocker.close();
    }
  });

  it('an unopenable file is a ConnectionError', async () => {
    const bad = new SqliteTarget({ url: join(dir, 'missing-dir', 'x.db') });
    await assert.rejects(bad.connect(), (e: unknown) => e instanceof ConnectionError && /sqlite/.test(e.message));
  });
});
