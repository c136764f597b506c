/**
 * MssqlTarget against a real SQL Server. Runs only when WALRELAY_TEST_MSSQL_URL is set, e.g.
 *   WALRELAY_TEST_MSSQL_URL='mssql://sa:Passw0rd!@127.0.0.1:1433/master?trustServerCertificate=true'
 * It creates a schema walrelay_t_<random> in that database and drops it at the end.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConnectionError, ValueError, type SchemaColumn, type TableShape, type ValueKind } from '@walrelay/core';
import type { ApplyBatch, StoredOffset, TargetTable } from '@walrelay/sink';
import sql from 'mssql';
import { MssqlTarget, parseMssqlUrl, quoteIdent } from '../src/index.js';

const URL_ENV = process.env['WALRELAY_TEST_MSSQL_URL'];
const skip = URL_ENV ? false : 'WALRELAY_TEST_MSSQL_URL is not set (no SQL Server on this machine); the T-SQL is covered by sql.test.ts';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name, kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

const ALL: SchemaColumn[] = [
  col('id', 'int64', { key: 1, nullable: false }),
  col('b', 'boolean'),
  col('i16', 'int16'),
  col('i32', 'int32'),
  col('i64', 'int64'),
  col('f64', 'float64'),
  col('dec', 'decimal', { precision: 38, scale: 10 }),
  col('num', 'numeric'),
  col('txt', 'text'),
  col('vc', 'text', { length: 5 }),
  col('bin', 'bytes'),
  col('u', 'uuid'),
  col('j', 'json'),
  col('d', 'date'),
  col('t', 'time'),
  col('ts', 'timestamp'),
  col('tstz', 'timestamptz'),
  col('arr', 'array', { element: 'int64' }),
];
const ROW: unknown[] = [
  -9_223_372_036_854_775_808n,
  true,
  -32768,
  2147483647,
  9_223_372_036_854_775_807n,
  0.1 + 0.2,
  '1234567890123456789012345678.0123456789',
  'NaN',
  'héllo 🦭 \'q\' ]',
  'fünf!',
  Buffer.from([0, 255, 1]),
  '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  '{"a":1}',
  -719_162,
  86_399_999_999n,
  -62_135_596_800_000_000n,
  1_704_067_200_123_456n,
  [1n, null],
];

describe('MssqlTarget on a real SQL Server', { skip, timeout: 120_000 }, () => {
  const schema = `walrelay_t_${randomBytes(4).toString('hex')}`;
  let admin: sql.ConnectionPool;
  let target: MssqlTarget;
  const t: TargetTable = { name: 'all ]kinds', shape: { schema: 'public', table: 'all ]kinds', columns: ALL } };
  const offset = (partition: number, nextOffset: bigint, sourceLsn: bigint | null = null): StoredOffset => ({ groupId: 'g', topic: 'walrelay.public.t', partition, nextOffset, sourceLsn });
  const batch = (steps: ApplyBatch['steps'], offsets: StoredOffset[] = []): ApplyBatch => ({ table: t, steps, offsets });
  const rows = async () =>
    (
      await admin
        .request()
        .query(
          `SELECT CAST([id] AS VARCHAR(20)) AS id, [txt], [vc], CAST([dec] AS VARCHAR(50)) AS dec, [num], [bin], CONVERT(VARCHAR(36), [u]) AS u, CONVERT(VARCHAR(10), [d], 23) AS d, CONVERT(VARCHAR(16), [t], 114) AS t, CONVERT(VARCHAR(27), [ts], 121) AS ts, CONVERT(VARCHAR(27), [tstz], 121) AS tstz, [arr], [f64], [b] FROM ${quoteIdent(schema)}.${quoteIdent(t.name)} ORDER BY [id]`,
        )
    ).recordset as Array<Record<string, unknown>>;

  before(async () => {
    const p = parseMssqlUrl(URL_ENV!);
    admin = await new sql.ConnectionPool({
      server: p.server,
      port: p.port,
      database: p.database,
      user: p.user,
      password: p.password,
      options: { encrypt: p.encrypt, trustServerCertificate: p.trustServerCertificate },
    }).connect();
    await admin.request().batch(`CREATE SCHEMA ${quoteIdent(schema)}`);
    target = new MssqlTarget({ url: URL_ENV!, schema, maxRowsPerStatement: 50 });
    await target.connect();
    await target.ensureOffsetsTable();
    await target.ensureOffsetsTable();
  });
  after(async () => {
    await target?.close();
    if (admin) {
      await admin.request().batch(
        `DECLARE @s NVARCHAR(MAX) = N''; SELECT @s += N'DROP TABLE ' + QUOTENAME(SCHEMA_NAME(schema_id)) + N'.' + QUOTENAME(name) + N';' FROM sys.tables WHERE schema_id = SCHEMA_ID(N'${schema}'); EXEC (@s); DROP SCHEMA ${quoteIdent(schema)};`,
      );
      await admin.close();
    }
  });

  it('creates, upserts, reads back exactly, with offsets', async () => {
    assert.equal(await target.existingColumns(t.name), null);
    await target.createTable(t);
    await target.createTable(t);
    assert.deepEqual(await target.existingColumns(t.name), ALL.map((c) => c.name));
    await target.apply(batch([{ kind: 'upsert', columns: ALL, rows: [ROW, [1n, ...ALL.slice(1).map(() => null)]] }], [offset(0, 10n, 0xffff_ffff_ffff_fff0n)]));
    const [r] = await rows();
    assert.equal(r?.['id'], '-9223372036854775808');
    assert.equal(r?.['txt'], 'héllo 🦭 \'q\' ]');
    assert.equal(r?.['vc'], 'fünf!');
    assert.equal(r?.['dec'], '1234567890123456789012345678.0123456789');
    assert.equal(r?.['num'], 'NaN');
    assert.deepEqual(r?.['bin'], Buffer.from([0, 255, 1]));
    assert.equal(String(r?.['u']).toLowerCase(), '1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    assert.equal(r?.['d'], '0001-01-01');
    assert.equal(r?.['ts'], '0001-01-01 00:00:00.000000');
    assert.equal(r?.['tstz'], '2024-01-01 00:00:00.123456');
    assert.equal(r?.['arr'], '[1,null]');
    assert.equal(r?.['f64'], 0.30000000000000004);
    assert.deepEqual(await target.loadOffsets('g'), [offset(0, 10n, 0xffff_ffff_ffff_fff0n)]);
  });

  it('partial upserts keep other columns; deletes; many rows', async () => {
    await target.apply(
      batch([
        { kind: 'upsert', columns: [ALL[0]!, ALL[8]!], rows: [[1n, 'only txt'], ...Array.from({ length: 130 }, (_, i) => [BigInt(100 + i), `r${i}`])] },
        { kind: 'delete', columns: [ALL[0]!], keys: [[100n], [101n]] },
        { kind: 'upsert', columns: [ALL[0]!, ALL[8]!], rows: [[-9_223_372_036_854_775_808n, 'changed']] },
      ]),
    );
    const all = await rows();
    assert.equal(all.length, 2 + 128);
    assert.equal(all[0]?.['txt'], 'changed');
    assert.equal(all[0]?.['dec'], '1234567890123456789012345678.0123456789');
  });

  it('a failing batch changes neither rows nor offsets', async () => {
    const before = await rows();
    await assert.rejects(
      target.apply(batch([{ kind: 'truncate' }, { kind: 'upsert', columns: [ALL[0]!, ALL[9]!], rows: [[1n, 'too long']] }], [offset(0, 99n)])),
      (e: unknown) => e instanceof ValueError && /all \]kinds/.test(e.message),
    );
    await assert.rejects(
      target.apply(batch([{ kind: 'upsert', columns: [ALL[0]!, ALL[6]!], rows: [[1n, '123456789012345678901234567890']] }], [offset(0, 98n)])),
      ValueError,
    );
    assert.deepEqual(await rows(), before);
    assert.equal((await target.loadOffsets('g'))[0]?.nextOffset, 10n);
  });

  it('adds columns and truncates', async () => {
    const added = [col('new ]col', 'int32')];
    await target.addColumns({ name: t.name, shape: { ...t.shape, columns: [...ALL, ...added] } as TableShape }, added);
    assert.equal((await target.existingColumns(t.name))?.at(-1), 'new ]col');
    await target.apply(batch([{ kind: 'truncate' }], [offset(0, 11n)]));
    assert.equal((await rows()).length, 0);
  });

  it('bad credentials are a ConnectionError without the password', async () => {
    const u = new URL(URL_ENV!);
    u.password = 'Wrong-Secret-42';
    await assert.rejects(new MssqlTarget({ url: u.toString() }).connect(), (e: unknown) => e instanceof ConnectionError && !e.message.includes('Wrong-Secret-42'));
  });
});
