import pg from 'pg';
import { PG_URL } from './env.js';

/** A plain PostgreSQL connection for test setup and checks. */
export async function pgConnect(url = PG_URL): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  return client;
}

export function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Drops a test's slot, publication and schema (slot first: it may still be active briefly). */
export async function dropPgArtifacts(client: pg.Client, names: { slot?: string; publication?: string; schema?: string }): Promise<void> {
  if (names.slot) {
    for (let i = 0; i < 50; i++) {
      const r = await client.query('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [names.slot]);
      if (r.rows.length === 0) break;
      if (r.rows[0].active_pid) {
        await client.query('SELECT pg_terminate_backend($1)', [r.rows[0].active_pid]).catch(() => undefined);
        await new Promise((res) => setTimeout(res, 100));
        continue;
      }
      await client.query('SELECT pg_drop_replication_slot($1)', [names.slot]).catch(() => undefined);
    }
  }
  if (names.publication) await client.query(`DROP PUBLICATION IF EXISTS ${q(names.publication)}`);
  if (names.schema) await client.query(`DROP SCHEMA IF EXISTS ${q(names.schema)} CASCADE`);
}
