import { Counter, Gauge, type Registry } from '@walrelay/core';
import { pgClient, type PgConnectionSettings } from '../replication/connection.js';

/**
 * What the server keeps for the slot, read from pg_replication_slots at every scrape (one
 * short connection per scrape, so it reports also while the pipeline restarts or the process
 * is a standby): `walrelay_source_slot_retained_wal_bytes` (current WAL − restart_lsn, what
 * PostgreSQL cannot recycle) and `walrelay_source_slot_exists` (0 once the slot is gone).
 */
export function registerSlotWalMetrics(slot: string, pg: PgConnectionSettings, registry: Registry): void {
  const r = [registry];
  const failures = new Counter({ name: 'walrelay_source_slot_query_failures_total', help: 'Scrapes whose pg_replication_slots query failed', registers: r });
  let last: Promise<{ exists: boolean; retained: number | null } | null> | undefined;
  let lastAt = 0;
  // Both gauges come from one query per scrape.
  const read = (): Promise<{ exists: boolean; retained: number | null } | null> => {
    if (last && Date.now() - lastAt < 1000) return last;
    lastAt = Date.now();
    last = (async () => {
      const client = pgClient(pg, false, 'walrelay-source-metrics', false);
      client.on('error', () => undefined);
      try {
        await client.connect();
        const res = await client.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained FROM pg_replication_slots WHERE slot_name = $1', [slot]);
        const row = res.rows[0] as { retained: string | null } | undefined;
        return { exists: row !== undefined, retained: row?.retained == null ? null : Number(row.retained) };
      } catch {
        failures.inc();
        return null;
      } finally {
        await client.end().catch(() => undefined);
      }
    })();
    return last;
  };
  new Gauge({
    name: 'walrelay_source_slot_retained_wal_bytes',
    help: 'WAL PostgreSQL keeps for the slot: current WAL position minus restart_lsn',
    labelNames: ['slot'],
    registers: r,
    async collect() {
      const s = await read();
      if (s?.retained != null) this.set({ slot }, s.retained);
      else this.reset();
    },
  });
  new Gauge({
    name: 'walrelay_source_slot_exists',
    help: '1 while the replication slot exists, 0 once it is gone',
    labelNames: ['slot'],
    registers: r,
    async collect() {
      const s = await read();
      if (s) this.set({ slot }, s.exists ? 1 : 0);
      else this.reset();
    },
  });
}
