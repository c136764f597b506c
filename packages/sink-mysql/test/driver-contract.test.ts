import { randomBytes } from 'node:crypto';
import { driverContract } from '@walrelay/sink/driver-contract';
import mysql from 'mysql2/promise';
import { MysqlTarget, MYSQL_IDENTIFIER_MAX, quoteIdent } from '../src/index.js';

/** Runs the driver contract on a real MariaDB/MySQL, in a database of its own (dropped at the end). */
const BASE_URL = process.env['WALRELAY_TEST_MYSQL_URL'] ?? 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test';

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
        const text = (rows as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
        const first = Object.keys(text[0] ?? {})[0] ?? '';
        return text.sort((a, b) => String(a[first]).localeCompare(String(b[first]), undefined, { numeric: true }));
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
  { bmpIdentifiersOnly: true, maxIdentifier: MYSQL_IDENTIFIER_MAX },
);
