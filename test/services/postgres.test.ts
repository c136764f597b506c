// PostgreSQL as scripts/services.sh leaves it: logical decoding on, replication connections allowed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PG_URL, unique } from './helpers.js';

describe('PostgreSQL for logical replication', () => {
  let client: pg.Client;
  before(async () => {
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
  });
  after(async () => {
    await client.end();
  });

  test('wal_level is logical, with room for slots and walsenders', async () => {
    assert.equal((await client.query('SHOW wal_level')).rows[0].wal_level, 'logical');
    assert.ok(Number((await client.query('SHOW max_replication_slots')).rows[0].max_replication_slots) >= 10);
    assert.ok(Number((await client.query('SHOW max_wal_senders')).rows[0].max_wal_senders) >= 10);
  });

  test('a replication connection runs IDENTIFY_SYSTEM and creates a logical pgoutput slot', async () => {
    const repl = new pg.Client({ connectionString: PG_URL, replication: 'database' } as pg.ClientConfig);
    await repl.connect();
    try {
      const id = (await repl.query('IDENTIFY_SYSTEM')).rows[0];
      assert.match(String(id.systemid), /^\d+$/);
      assert.ok(Number(id.timeline) >= 1);
      assert.match(id.xlogpos, /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.equal(id.dbname, new URL(PG_URL).pathname.slice(1));
      // TEMPORARY: dropped when this connection closes, so nothing holds WAL after the test.
      const slot = unique('walrelay_services_test').replace(/-/g, '_');
      const created = (await repl.query(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'nothing')`)).rows[0];
      assert.equal(created.slot_name, slot);
      assert.match(created.consistent_point, /^[0-9A-F]+\/[0-9A-F]+$/);
      const seen = await client.query('SELECT plugin, slot_type, temporary FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      assert.deepEqual(seen.rows, [{ plugin: 'pgoutput', slot_type: 'logical', temporary: true }]);
    } finally {
      await repl.end();
    }
  });
});
