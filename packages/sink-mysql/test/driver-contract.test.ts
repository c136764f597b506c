import { randomBytes } from 'node:crypto';
import type { SchemaColumn, ValueKind } from '@walrelay/core';
import { driverContract } from '@walrelay/sink/driver-contract';
import mysql from 'mysql2/promise';
import { MysqlTarget, MYSQL_IDENTIFIER_MAX, quoteIdent } from '../src/index.js';

/** Runs the driver contract on a real MariaDB/MySQL, in a database of its own (dropped at the end). */
const BASE_URL = process.env['WALRELAY_TEST_MYSQL_URL'] ?? 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name, kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

const text = (v: unknown): string | null => (v === null ? null : Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v));
const BYTES = Buffer.from([0, 1, 2, 255, 0x5c, 0x27, 0x22, 0x60]);

/** Every value kind MySQL holds and the text it gives back (see packages/sink-mysql/README.md); float32 is read as DOUBLE elsewhere. */
const CASES: [SchemaColumn, unknown, string][] = [
  [col('id', 'int64', { key: 1, nullable: false }), 9_223_372_036_854_775_807n, '9223372036854775807'],
  [col('b', 'boolean'), true, '1'],
  [col('i16', 'int16'), -32768, '-32768'],
  [col('i32', 'int32'), 2147483647, '2147483647'],
  [col('i64', 'int64'), -9223372036854775808n, '-9223372036854775808'],
  [col('f64', 'float64'), 0.1 + 0.2, '0.30000000000000004'],
  [col('dec', 'decimal', { precision: 30, scale: 10 }), '12345678901234567890.0123456789', '12345678901234567890.0123456789'],
  [col('dec_big', 'decimal', { precision: 100, scale: 40 }), `${'9'.repeat(60)}.${'1234567890'.repeat(4)}`, `${'9'.repeat(60)}.${'1234567890'.repeat(4)}`],
  [col('num', 'numeric'), '123456789012345678901234567890.123456789012345678901234567890', '123456789012345678901234567890.123456789012345678901234567890'],
  [col('txt', 'text'), 'héllo 🦭 "dq" \'sq\' back\\slash `bt` \n\ttab', 'héllo 🦭 "dq" \'sq\' back\\slash `bt` \n\ttab'],
  [col('vc', 'text', { length: 20 }), 'exactly twenty chars', 'exactly twenty chars'],
  [col('bin', 'bytes'), BYTES, text(BYTES)!],
  [col('u', 'uuid'), '1b4e28ba-2fa1-11d2-883f-0016d3cca427', '1b4e28ba-2fa1-11d2-883f-0016d3cca427'],
  [col('d', 'date'), 2_932_896, '9999-12-31'],
  [col('t', 'time', { precision: 6 }), 86_399_999_999n, '23:59:59.999999'],
  [col('ttz', 'timetz'), '12:34:56.789+05:30', '12:34:56.789+05:30'],
  [col('ts', 'timestamp', { precision: 6 }), 1_704_067_200_123_456n, '2024-01-01 00:00:00.123456'],
  [col('tstz', 'timestamptz', { precision: 6 }), -1n, '1969-12-31 23:59:59.999999'],
  [col('iv', 'interval'), 'P1Y2M3DT4H5M6.789S', 'P1Y2M3DT4H5M6.789S'],
  [col('e', 'enum', { enumLabels: ['happy', 'sad'] }), 'happy', 'happy'],
  [col('arr', 'array', { element: 'int64' }), [1n, null, 9_007_199_254_740_993n], '[1,null,"9007199254740993"]'],
  [col('oth', 'other', { pgType: 'inet' }), '192.168.0.1/32', '192.168.0.1/32'],
];

driverContract(
  'mysql',
  async () => {
    const db = `walrelay_contract_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection({ uri: BASE_URL, charset: 'UTF8MB4_BIN', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
    await admin.query(`CREATE DATABASE ${quoteIdent(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await admin.query(`USE ${quoteIdent(db)}`);
    const u = new URL(BASE_URL);
    u.pathname = `/${db}`;
    return {
      driver: new MysqlTarget({ url: u.toString(), maxRowsPerStatement: 2 }),
      rows: async (table) => {
        const [rows] = await admin.query(`SELECT * FROM ${quoteIdent(table)}`);
        const rowsText = (rows as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, text(v)])));
        const first = Object.keys(rowsText[0] ?? {})[0] ?? '';
        return rowsText.sort((a, b) => String(a[first]).localeCompare(String(b[first]), undefined, { numeric: true }));
      },
      createForeignTable: async (name, columns, key) => {
        const lines = columns.map((c) => `${quoteIdent(c)} VARCHAR(100) ${key.includes(c) ? 'NOT NULL' : 'NULL'}`);
        if (key.length > 0) lines.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`);
        await admin.query(`CREATE TABLE ${quoteIdent(name)} (${lines.join(', ')})`);
      },
      cleanup: async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(db)}`);
        await admin.end();
      },
    };
  },
  {
    bmpIdentifiersOnly: true,
    maxIdentifier: MYSQL_IDENTIFIER_MAX,
    values: { columns: CASES.map((c) => c[0]), row: CASES.map((c) => c[1]), nullKey: 1n, expected: Object.fromEntries(CASES.map(([c, , e]) => [c.name, e])) },
  },
);
