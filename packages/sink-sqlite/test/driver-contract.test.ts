import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverContract } from '@walrelay/sink/driver-contract';
import { SqliteTarget, quoteIdent } from '../src/index.js';

driverContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'walrelay-contract-'));
  const driver = new SqliteTarget({ url: `sqlite://${join(dir, 'contract.db')}`, maxRowsPerStatement: 2 });
  return {
    driver,
    rows: async (table) => {
      const all = driver.database.prepare(`SELECT * FROM ${quoteIdent(table)}`).safeIntegers(true).all() as Record<string, unknown>[];
      const text = all.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
      const first = Object.keys(text[0] ?? {})[0] ?? '';
      return text.sort((a, b) => String(a[first]).localeCompare(String(b[first]), undefined, { numeric: true }));
    },
    createForeignTable: async (name, columns, key) => {
      const lines = columns.map((c) => `${quoteIdent(c)} TEXT`);
      if (key.length > 0) lines.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`);
      driver.database.exec(`CREATE TABLE ${quoteIdent(name)} (${lines.join(', ')})`);
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
