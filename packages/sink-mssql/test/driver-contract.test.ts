/**
 * The driver contract on a real SQL Server: runs only when WALRELAY_TEST_MSSQL_URL is set
 * (no SQL Server can be installed on the development machines). It creates a schema
 * walrelay_c_<random> and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { driverContract } from '@walrelay/sink/driver-contract';
import sql from 'mssql';
import { MSSQL_IDENTIFIER_MAX, MssqlTarget, parseMssqlUrl, qualified, quoteIdent } from '../src/index.js';

const URL_ENV = process.env['WALRELAY_TEST_MSSQL_URL'];

driverContract(
  'mssql',
  async () => {
    const url = URL_ENV as string;
    const schema = `walrelay_c_${randomBytes(4).toString('hex')}`;
    const p = parseMssqlUrl(url);
    const admin = await new sql.ConnectionPool({
      server: p.server,
      port: p.port,
      database: p.database,
      user: p.user,
      password: p.password,
      options: { encrypt: p.encrypt, trustServerCertificate: p.trustServerCertificate },
    }).connect();
    await admin.request().batch(`CREATE SCHEMA ${quoteIdent(schema)}`);
    return {
      driver: new MssqlTarget({ url, schema, maxRowsPerStatement: 2 }),
      rows: async (table) => {
        const result = await admin.request().query(`SELECT * FROM ${qualified(schema, table)}`);
        const text = (result.recordset as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
        const first = Object.keys(text[0] ?? {})[0] ?? '';
        return text.sort((a, b) => String(a[first]).localeCompare(String(b[first]), undefined, { numeric: true }));
      },
      createForeignTable: async (name, columns, key) => {
        const lines = columns.map((c) => `${quoteIdent(c)} NVARCHAR(100) ${key.includes(c) ? 'NOT NULL' : 'NULL'}`);
        if (key.length > 0) lines.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`);
        await admin.request().batch(`CREATE TABLE ${qualified(schema, name)} (${lines.join(', ')})`);
      },
      cleanup: async () => {
        const tables = await admin.request().input('s', sql.NVarChar, schema).query('SELECT t.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id WHERE s.name = @s');
        for (const r of tables.recordset as { name: string }[]) await admin.request().batch(`DROP TABLE ${qualified(schema, r.name)}`);
        await admin.request().batch(`DROP SCHEMA ${quoteIdent(schema)}`);
        await admin.close();
      },
    };
  },
  { skip: URL_ENV ? false : 'WALRELAY_TEST_MSSQL_URL is not set (no SQL Server on this machine); the T-SQL is covered by sql.test.ts', maxIdentifier: MSSQL_IDENTIFIER_MAX },
);
