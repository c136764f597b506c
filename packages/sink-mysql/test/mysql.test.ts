/**
 * MysqlTarget against a real MariaDB/MySQL. URL from WALRELAY_TEST_MYSQL_URL (default: the
 * local service of scripts/services.sh, mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test).
 * The test creates its own database walrelay_dialect_<random> (the walrelay user may create
 * walrelay% databases) and drops it at the end.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IdentifierError, ConnectionError, ValueError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import type { ApplyBatch, StoredOffset, TargetTable } from '@walrelay/sink';
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { MysqlTarget } from '../src/index.js';

const BASE_URL = process.env['WALRELAY_TEST_MYSQL_URL'] ?? 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test';
const DB = `walrelay_dialect_${randomBytes(4).toString('hex')}`;
const url = (() => {
  const u = new URL(BASE_URL);
  u.pathname = `/${DB}`;
  return u.toString();
})();

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name.replace(/[^A-Za-z0-9_]/g, '_'), kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

const ALL: SchemaColumn[] = [
  col('id', 'int64', { key: 1, nullable: false }),
  col('b', 'boolean'),
  col('i16', 'int16'),
  col('i32', 'int32'),
  col('i64', 'int64'),
  col('f32', 'float32'),
  col('f64', 'float64'),
  col('dec', 'decimal', { precision: 30, scale: 10 }),
  col('dec_big', 'decimal', { precision: 100, scale: 40 }),
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
  col('e', 'enum', { enumLabels: ['happy', 'sad'] }),
  col('arr', 'array', { element: 'int64' }),
  col('oth', 'other', { pgType: 'inet' }),
];
const ALL_SHAPE: TableShape = { schema: 'public', table: 'all_kinds', columns: ALL };
const BYTES = Buffer.concat([Buffer.from([0, 1, 2, 255, 0x5c, 0x27, 0x22, 0x60]), randomBytes(300)]);
const FULL_ROW: unknown[] = [
  1n,
  true,
  -32768,
  2147483647,
  -9223372036854775808n,
  Math.fround(3.14159),
  0.1 + 0.2,
  '12345678901234567890.0123456789',
  `${'9'.repeat(60)}.${'1234567890'.repeat(4)}`,
  '123456789012345678901234567890.123456789012345678901234567890',
  'héllo 🦭 "dq" \'sq\' back\\slash `bt` \n\ttab',
  'exactly twenty chars',
  BYTES,
  '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  '{"a": [1, 2, {"b": null}], "ü": "x"}',
  2_932_896, // 9999-12-31
  86_399_999_999n,
  '12:34:56.789+05:30',
  1_704_067_200_123_456n,
  -1n,
  'P1Y2M3DT4H5M6.789S',
  'happy',
  [1n, null, 9_007_199_254_740_993n],
  '192.168.0.1/32',
];
const EXPECTED_FULL: Record<string, unknown> = {
  id: '1',
  b: 1,
  i16: -32768,
  i32: 2147483647,
  i64: '-9223372036854775808',
  f64: 0.30000000000000004,
  dec: '12345678901234567890.0123456789',
  dec_big: `${'9'.repeat(60)}.${'1234567890'.repeat(4)}`,
  num: '123456789012345678901234567890.123456789012345678901234567890',
  txt: 'héllo 🦭 "dq" \'sq\' back\\slash `bt` \n\ttab',
  vc: 'exactly twenty chars',
  bin: BYTES,
  u: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  d: '9999-12-31',
  t: '23:59:59.999999',
  ttz: '12:34:56.789+05:30',
  ts: '2024-01-01 00:00:00.123456',
  tstz: '1969-12-31 23:59:59.999999',
  iv: 'P1Y2M3DT4H5M6.789S',
  e: 'happy',
  arr: '[1,null,"9007199254740993"]',
  oth: '192.168.0.1/32',
};

let admin: Connection;
let target: MysqlTarget;
const GROUP = 'grp-"1"';
const offset = (partition: number, nextOffset: bigint, sourceLsn: bigint | null = null, topic = 'walrelay.public.all_kinds'): StoredOffset => ({
  groupId: GROUP,
  topic,
  partition,
  nextOffset,
  sourceLsn,
});

async function rows(table: string, orderBy = 'id'): Promise<RowDataPacket[]> {
  const [r] = await admin.query<RowDataPacket[]>(`SELECT * FROM ${mysql.escapeId(table)} ORDER BY ${mysql.escapeId(orderBy)}`);
  return r;
}

function batch(table: TargetTable, steps: ApplyBatch['steps'], offsets: StoredOffset[] = []): ApplyBatch {
  return { table, steps, offsets };
}

describe('MysqlTarget on a real server', { timeout: 120_000 }, () => {
  before(async () => {
    const base = new URL(BASE_URL);
    admin = await mysql.createConnection({
      host: base.hostname,
      port: Number(base.port || 3306),
      user: decodeURIComponent(base.username),
      password: decodeURIComponent(base.password),
      database: decodeURIComponent(base.pathname.slice(1)),
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      charset: 'UTF8MB4_BIN',
    });
    await admin.query(`CREATE DATABASE ${mysql.escapeId(DB)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await admin.query(`USE ${mysql.escapeId(DB)}`);
    target = new MysqlTarget({ url, maxRowsPerStatement: 100 });
    await target.connect();
    await target.ensureOffsetsTable();
    await target.ensureOffsetsTable(); // idempotent
  });
  after(async () => {
    await target?.close();
    await admin?.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(DB)}`);
    await admin?.end();
  });

  const all: TargetTable = { name: 'all_kinds', shape: ALL_SHAPE };

  it('creates a table covering every value kind', async () => {
    assert.equal(await target.existingColumns('all_kinds'), null);
    await target.createTable(all);
    await target.createTable(all); // IF NOT EXISTS
    assert.deepEqual(await target.existingColumns('all_kinds'), ALL.map((c) => c.name));
    const [cols] = await admin.query<RowDataPacket[]>(
      'SELECT COLUMN_NAME AS n, COLUMN_TYPE AS t, IS_NULLABLE AS nl FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      ['all_kinds'],
    );
    const types = Object.fromEntries(cols.map((c) => [c['n'], String(c['t']).toLowerCase()]));
    assert.match(types['id'] ?? '', /^bigint/);
    assert.match(types['j'] ?? '', /^(json|longtext)/);
    assert.match(types['u'] ?? '', /^char\(36\)/);
    assert.match(types['dec'] ?? '', /^decimal\(30,10\)/);
    assert.match(types['ts'] ?? '', /^datetime\(6\)/);
    assert.match(types['t'] ?? '', /^time\(6\)/);
    assert.match(types['vc'] ?? '', /^varchar\(20\)/);
    assert.equal(cols[0]?.['nl'], 'NO');
  });

  it('round-trips every kind exactly, with offsets in the same transaction', async () => {
    const nullRow = [2n, ...ALL.slice(1).map(() => null)];
    await target.apply(batch(all, [{ kind: 'upsert', columns: ALL, rows: [FULL_ROW, nullRow] }], [offset(0, 11n, 0x16b374d8n), offset(1, 5n)]));
    const [r1, r2] = await rows('all_kinds');
    assert.ok(r1 && r2);
    for (const [k, v] of Object.entries(EXPECTED_FULL)) assert.deepEqual(r1[k], v, `column ${k}`);
    assert.equal(Math.fround(Number(r1['f32'])), Math.fround(3.14159));
    assert.deepEqual(typeof r1['j'] === 'string' ? JSON.parse(r1['j']) : r1['j'], { a: [1, 2, { b: null }], ü: 'x' });
    for (const c of ALL.slice(1)) assert.equal(r2[c.name], null, `null ${c.name}`);
    const stored = await target.loadOffsets(GROUP);
    assert.deepEqual(stored, [offset(0, 11n, 0x16b374d8n), offset(1, 5n)]);
    assert.deepEqual(await target.loadOffsets('other-group'), []);
  });

  it('partial upserts leave the other columns unchanged (unchanged TOAST)', async () => {
    const cols = [ALL[0]!, ALL[10]!]; // id, txt
    await target.apply(batch(all, [{ kind: 'upsert', columns: cols, rows: [[1n, 'changed']] }], [offset(0, 12n, 0xffff_ffff_ffff_fff0n)]));
    const [r1] = await rows('all_kinds');
    assert.equal(r1?.['txt'], 'changed');
    for (const [k, v] of Object.entries(EXPECTED_FULL)) if (k !== 'txt') assert.deepEqual(r1?.[k], v, `column ${k}`);
    const stored = await target.loadOffsets(GROUP);
    assert.deepEqual(stored[0], offset(0, 12n, 0xffff_ffff_ffff_fff0n)); // LSN above 2^63 survives
  });

  it('applies deletes, upserts and many-row batches in order', async () => {
    const many = Array.from({ length: 250 }, (_, i) => [BigInt(100 + i), `row ${i}`]);
    const cols = [ALL[0]!, ALL[10]!];
    await target.apply(
      batch(all, [
        { kind: 'upsert', columns: cols, rows: many },
        { kind: 'delete', columns: [ALL[0]!], keys: [[2n], [100n], [101n], [999n]] },
      ]),
    );
    const ids = (await rows('all_kinds')).map((r) => r['id']);
    assert.equal(ids.length, 1 + 248);
    assert.ok(!ids.includes('2') && !ids.includes('100') && ids.includes('1') && ids.includes('349'));
  });

  it('a failing batch changes neither rows nor offsets', async () => {
    const before = await rows('all_kinds');
    const offsetsBefore = await target.loadOffsets(GROUP);
    const cols = [ALL[0]!, ALL[11]!]; // id, vc varchar(20)
    // The server refuses the second step (too long for VARCHAR(20)): ER_DATA_TOO_LONG → ValueError.
    await assert.rejects(
      target.apply(
        batch(
          all,
          [
            { kind: 'upsert', columns: cols, rows: [[1n, 'fine'], [5000n, 'new row']] },
            { kind: 'upsert', columns: cols, rows: [[1n, 'x'.repeat(21)]] },
          ],
          [offset(0, 99n)],
        ),
      ),
      (e: unknown) => e instanceof ValueError && /all_kinds/.test(e.message) && /vc/.test(e.message),
    );
    // A value walrelay refuses itself (infinity) in the second step.
    await assert.rejects(
      target.apply(
        batch(
          all,
          [
            { kind: 'delete', columns: [ALL[0]!], keys: [[1n]] },
            { kind: 'upsert', columns: [ALL[0]!, ALL[15]!], rows: [[7n, 2_147_483_647]] },
          ],
          [offset(0, 98n)],
        ),
      ),
      /cannot store infinity in all_kinds\.d/,
    );
    assert.deepEqual(await rows('all_kinds'), before);
    assert.deepEqual(await target.loadOffsets(GROUP), offsetsBefore);
  });

  it('out-of-range values are ValueErrors naming table and column', async () => {
    const dec = [ALL[0]!, ALL[7]!];
    await assert.rejects(
      target.apply(batch(all, [{ kind: 'upsert', columns: dec, rows: [[1n, '123456789012345678901.5']] }])),
      (e: unknown) => e instanceof ValueError && /all_kinds/.test(e.message) && /dec/.test(e.message),
    );
    await assert.rejects(
      target.apply(batch(all, [{ kind: 'upsert', columns: [ALL[0]!, ALL[15]!], rows: [[1n, -800_000]] }])),
      (e: unknown) => e instanceof ValueError && /all_kinds\.d/.test(e.message) && /1\.\.9999/.test(e.message),
    );
    await assert.rejects(
      target.apply(batch(all, [{ kind: 'upsert', columns: [ALL[0]!, ALL[6]!], rows: [[1n, Number.NaN]] }])),
      (e: unknown) => e instanceof ValueError && /all_kinds\.f64/.test(e.message),
    );
  });

  it('truncate removes every row inside the transaction', async () => {
    await target.apply(batch(all, [{ kind: 'truncate' }, { kind: 'upsert', columns: [ALL[0]!, ALL[10]!], rows: [[42n, 'after truncate']] }], [offset(0, 200n)]));
    const r = await rows('all_kinds');
    assert.deepEqual(
      r.map((x) => [x['id'], x['txt']]),
      [['42', 'after truncate']],
    );
    assert.equal((await target.loadOffsets(GROUP))[0]?.nextOffset, 200n);
  });

  it('adds columns the schema gained', async () => {
    const added = [col('added_json', 'json'), col('order', 'text', { length: 30, nullable: false })];
    const shape: TableShape = { ...ALL_SHAPE, columns: [...ALL, ...added] };
    await target.addColumns({ name: 'all_kinds', shape }, added);
    await target.addColumns({ name: 'all_kinds', shape }, added); // already there: no-op
    assert.deepEqual((await target.existingColumns('all_kinds'))?.slice(-2), ['added_json', 'order']);
    await target.apply(batch({ name: 'all_kinds', shape }, [{ kind: 'upsert', columns: [ALL[0]!, added[1]!], rows: [[42n, 'ordered']] }]));
    const [r] = await rows('all_kinds');
    assert.equal(r?.['order'], 'ordered');
    assert.equal(r?.['txt'], 'after truncate');
    assert.equal(r?.['added_json'], null);
  });

  it('hostile identifiers work everywhere', async () => {
    const name = 'we`ird "t\'able" [x] ü select';
    const k1 = col('select', 'text', { key: 1, nullable: false });
    const k2 = col('order', 'uuid', { key: 2, nullable: false });
    const v1 = col('a`b"c\'d]e', 'text');
    const v2 = col('sp ace ünï', 'int32');
    const shape: TableShape = { schema: 'public', table: name, columns: [k1, k2, v1, v2] };
    const t: TargetTable = { name, shape };
    await target.createTable(t);
    assert.deepEqual(await target.existingColumns(name), ['select', 'order', 'a`b"c\'d]e', 'sp ace ünï']);
    const u1 = '00000000-0000-0000-0000-000000000001';
    await target.apply(
      batch(t, [
        {
          kind: 'upsert',
          columns: shape.columns,
          rows: [
            ['Key', u1, 'v', 1],
            ['key', u1, 'w', 2], // case-sensitive keys (utf8mb4_bin), as in PostgreSQL
            ["k'); DROP TABLE x; --", u1, '`', 3],
          ],
        },
      ]),
    );
    await target.apply(batch(t, [{ kind: 'upsert', columns: [k1, k2, v2], rows: [['Key', u1, 10]] }, { kind: 'delete', columns: [k1, k2], keys: [['key', u1]] }]));
    const r = await rows(name, 'sp ace ünï');
    assert.deepEqual(
      r.map((x) => [x['select'], x['a`b"c\'d]e'], x['sp ace ünï']]),
      [
        ["k'); DROP TABLE x; --", '`', 3],
        ['Key', 'v', 10],
      ],
    );
    await assert.rejects(target.createTable({ name: 'x'.repeat(65), shape }), (e: unknown) => e instanceof IdentifierError && e.message.includes('x'.repeat(65)));
    const longCol = col('c'.repeat(70), 'text');
    await assert.rejects(target.addColumns(t, [longCol]), (e: unknown) => e instanceof IdentifierError && e.message.includes('c'.repeat(70)));
  });

  it('text keys fit the index limit and refuse longer values', async () => {
    const k = col('k', 'text', { key: 1, nullable: false });
    const shape: TableShape = { schema: 'public', table: 'text_key', columns: [k, col('v', 'bytes')] };
    const t: TargetTable = { name: 'text_key', shape };
    await target.createTable(t);
    const longest = '🦭'.repeat(768);
    await target.apply(batch(t, [{ kind: 'upsert', columns: shape.columns, rows: [[longest, Buffer.from('x')]] }]));
    assert.equal((await rows('text_key', 'k'))[0]?.['k'], longest);
    await assert.rejects(
      target.apply(batch(t, [{ kind: 'upsert', columns: shape.columns, rows: [['a'.repeat(769), null]] }])),
      (e: unknown) => e instanceof ValueError && /text_key/.test(e.message),
    );
    const bk = col('bk', 'bytes', { key: 1, nullable: false });
    const bt: TargetTable = { name: 'bytes_key', shape: { schema: 'public', table: 'bytes_key', columns: [bk, col('n', 'int16')] } };
    await target.createTable(bt);
    await target.apply(batch(bt, [{ kind: 'upsert', columns: bt.shape.columns, rows: [[Buffer.alloc(3072, 7), 1], [Buffer.from([0]), 2], [Buffer.from([0, 0]), 3]] }]));
    await target.apply(batch(bt, [{ kind: 'delete', columns: [bk], keys: [[Buffer.from([0])]] }]));
    assert.deepEqual(
      (await rows('bytes_key', 'n')).map((r) => r['n']),
      [1, 3],
    );
  });

  it('reports extra unique indexes', async () => {
    assert.deepEqual(await target.extraUniqueIndexes('all_kinds'), []);
    await admin.query('CREATE UNIQUE INDEX `uq_vc` ON `all_kinds` (`vc`)');
    assert.deepEqual(await target.extraUniqueIndexes('all_kinds'), ['uq_vc']);
  });

  it('connection failures are ConnectionErrors without the password', async () => {
    const wrong = new URL(url);
    wrong.password = 'not-the-Secret-pw';
    const bad = new MysqlTarget({ url: wrong.toString() });
    await assert.rejects(bad.connect(), (e: unknown) => e instanceof ConnectionError && e.retriable === false && !e.message.includes('not-the-Secret-pw') && /mysql/.test(e.message));
    const closed = new URL(url);
    closed.port = '1';
    closed.password = 'hunter2secret';
    const unreachable = new MysqlTarget({ url: closed.toString(), connectTimeoutMs: 2000 });
    await assert.rejects(unreachable.connect(), (e: unknown) => e instanceof ConnectionError && e.retriable && !e.message.includes('hunter2secret'));
  });
});
