import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaColumn, ValueKind } from '@walrelay/core';
import { driverContract } from '@walrelay/sink/driver-contract';
import { SqliteTarget, quoteIdent } from '../src/index.js';

function col(name: string, kind: ValueKind, extra: Partial<SchemaColumn> = {}): SchemaColumn {
  return { name, field: name, kind, pgType: kind, typmod: -1, nullable: true, key: null, ...extra };
}

const text = (v: unknown): string | null => (v === null ? null : Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v));
const BYTES = Buffer.from([0, 1, 2, 255, 0x22, 0x27, 0x5c]);

/** Every value kind and the text SQLite gives back (see the type mapping in packages/sink-sqlite/README.md). */
const CASES: [SchemaColumn, unknown, string][] = [
  [col('id', 'int64', { key: 1, nullable: false }), 9_223_372_036_854_775_807n, '9223372036854775807'],
  [col('b', 'boolean'), false, '0'],
  [col('i16', 'int16'), 32767, '32767'],
  [col('i32', 'int32'), -2147483648, '-2147483648'],
  [col('i64', 'int64'), -9_223_372_036_854_775_808n, '-9223372036854775808'],
  [col('f32', 'float32'), Math.fround(1.1), String(Math.fround(1.1))],
  [col('f64', 'float64'), Number.NEGATIVE_INFINITY, '-Infinity'],
  [col('dec', 'decimal', { precision: 30, scale: 10 }), '-12345678901234567890.0123456789', '-12345678901234567890.0123456789'],
  [col('num', 'numeric'), '0.000000000000000000000000000000000000000000000000001230', '0.000000000000000000000000000000000000000000000000001230'],
  [col('txt', 'text'), 'héllo 🦭 "dq" \'sq\' \\ \n\ttab', 'héllo 🦭 "dq" \'sq\' \\ \n\ttab'],
  [col('bin', 'bytes'), BYTES, text(BYTES)!],
  [col('u', 'uuid'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  [col('j', 'json'), '{"a":[1,2,{"b":null}]}', '{"a":[1,2,{"b":null}]}'],
  [col('d', 'date'), -719_162, '0001-01-01'],
  [col('t', 'time', { precision: 6 }), 0n, '00:00:00.000000'],
  [col('ttz', 'timetz'), '00:00:00+14', '00:00:00+14'],
  [col('ts', 'timestamp', { precision: 6 }), -62_135_596_800_000_000n, '0001-01-01 00:00:00.000000'],
  [col('tstz', 'timestamptz', { precision: 6 }), 9_223_372_036_854_775_807n, 'infinity'],
  [col('iv', 'interval'), 'PT0.000001S', 'PT0.000001S'],
  [col('e', 'enum'), 'sad', 'sad'],
  [col('arr', 'array', { element: 'bytes' }), [Buffer.from([1, 2]), null], '["AQI=",null]'],
  [col('oth', 'other', { pgType: 'inet' }), '::1/128', '::1/128'],
];

driverContract(
  'sqlite',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'walrelay-contract-'));
    const driver = new SqliteTarget({ url: `sqlite://${join(dir, 'contract.db')}`, maxRowsPerStatement: 2 });
    return {
      driver,
      rows: async (table) => {
        const all = driver.database.prepare(`SELECT * FROM ${quoteIdent(table)}`).safeIntegers(true).all() as Record<string, unknown>[];
        const rows = all.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, text(v)])));
        const first = Object.keys(rows[0] ?? {})[0] ?? '';
        return rows.sort((a, b) => String(a[first]).localeCompare(String(b[first]), undefined, { numeric: true }));
      },
      createForeignTable: async (name, columns, key) => {
        const lines = columns.map((c) => `${quoteIdent(c)} TEXT`);
        if (key.length > 0) lines.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`);
        driver.database.exec(`CREATE TABLE ${quoteIdent(name)} (${lines.join(', ')})`);
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { widens: false, values: { columns: CASES.map((c) => c[0]), row: CASES.map((c) => c[1]), nullKey: 1n, expected: Object.fromEntries(CASES.map(([c, , e]) => [c.name, e])) } },
);
