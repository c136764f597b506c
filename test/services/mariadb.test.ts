// MariaDB as scripts/services.sh leaves it: user walrelay over TCP owns the walrelay% databases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { MYSQL_URL, unique } from './helpers.js';

describe('MariaDB test database and user', () => {
  test('walrelay connects over TCP and can create, use and drop a table in walrelay_test', async () => {
    const conn = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      const [who] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u, DATABASE() AS db');
      assert.match(who[0]!.u, /^walrelay@/);
      assert.equal(who[0]!.db, new URL(MYSQL_URL).pathname.slice(1));
      const table = unique('services_test').replace(/-/g, '_');
      await conn.query(`CREATE TABLE \`${table}\` (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB`);
      try {
        await conn.query(`INSERT INTO \`${table}\` (id, name) VALUES ?  ON DUPLICATE KEY UPDATE name = VALUES(name)`, [[[1, 'a'], [2, 'b']]]);
        await conn.query(`INSERT INTO \`${table}\` (id, name) VALUES ? ON DUPLICATE KEY UPDATE name = VALUES(name)`, [[[2, 'B']]]);
        const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT id, name FROM \`${table}\` ORDER BY id`);
        assert.deepEqual(rows.map((r) => ({ ...r })), [{ id: 1, name: 'a' }, { id: 2, name: 'B' }]);
      } finally {
        await conn.query(`DROP TABLE IF EXISTS \`${table}\``);
      }
      const [left] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [table]);
      assert.equal(Number(left[0]!.n), 0);
    } finally {
      await conn.end();
    }
  });
});
