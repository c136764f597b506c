import { Gauge, type Registry } from '@walrelay/core';

/**
 * How recent the newest change a sink process has applied is: the PostgreSQL commit time
 * of the last change per source table, and its age. With a source heartbeat whose
 * actionQuery updates a published table, the age stays about one heartbeat interval
 * while every stage works, and grows as soon as one stops — also on a quiet database.
 *
 * Hook (sink runtime): after a target transaction has committed, for each applied change
 * record that is not a snapshot read: `clock.applied(envelope.source, Date.now())`.
 */
export class EndToEndClock {
  readonly #latest = new Map<string, number>();
  readonly #commit: Gauge<'table'>;

  constructor(registry: Registry) {
    const latest = this.#latest;
    this.#commit = new Gauge({
      name: 'walrelay_sink_last_change_commit_timestamp_seconds',
      help: 'PostgreSQL commit time (unix seconds) of the newest change applied, per source table',
      labelNames: ['table'],
      registers: [registry],
    });
    new Gauge({
      name: 'walrelay_sink_last_change_age_seconds',
      help: 'Seconds since the PostgreSQL commit of the newest change applied to the target (any table); NaN until one is applied',
      registers: [registry],
      collect() {
        if (latest.size === 0) return this.set(Number.NaN);
        this.set(Math.max(0, Date.now() / 1000 - Math.max(...latest.values()) / 1000));
      },
    });
  }

  /** One applied change: `source` is its envelope's source block (ts_ms = commit time). */
  applied(source: { readonly schema: string; readonly table: string; readonly ts_ms: bigint | number; readonly snapshot?: string | null }): void {
    // Snapshot reads (initial and incremental) carry the read time, not a commit time.
    if (source.snapshot === 'true' || source.snapshot === 'incremental') return;
    const ms = Number(source.ts_ms);
    if (!(ms > 0)) return;
    const table = `${source.schema}.${source.table}`;
    if ((this.#latest.get(table) ?? 0) >= ms) return;
    this.#latest.set(table, ms);
    this.#commit.set({ table }, ms / 1000);
  }
}
