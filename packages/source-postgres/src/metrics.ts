import { Counter, Gauge, Histogram, type Registry } from '@walrelay/core';
import { ReplicationLagClock } from './replication-lag.js';

/**
 * The stream's per-change counts, kept in plain fields and added to their counters when the
 * registry is read (a scrape, or the status command). prom-client hashes the labels of every
 * `inc`: once per change that was ≈2% of the source's CPU in catch-up (docs/performance.md).
 * What a scrape shows is unchanged: every change published up to that moment.
 */
export class StreamCounts {
  #byTable = new Map<string, Record<string, number>>();
  #bytes = 0;

  change(table: string, op: string): void {
    let ops = this.#byTable.get(table);
    if (ops === undefined) this.#byTable.set(table, (ops = {}));
    ops[op] = (ops[op] ?? 0) + 1;
  }

  bytes(n: number): void {
    this.#bytes += n;
  }

  flushChanges(counter: Counter<'table' | 'op'>): void {
    for (const [table, ops] of this.#byTable) for (const [op, n] of Object.entries(ops)) counter.inc({ table, op }, n);
    this.#byTable.clear();
  }

  flushBytes(counter: Counter<string>): void {
    if (this.#bytes > 0) counter.inc(this.#bytes);
    this.#bytes = 0;
  }
}

/** What the stream waited for: the replication stream, the produce request in flight, a Kafka commit. */
export type StreamWait = 'input' | 'produce' | 'commit';

/**
 * How long the stream waited, by what for, kept in plain fields (a wait is timed at each await,
 * thousands a second in catch-up) and added to walrelay_source_wait_seconds_total when the
 * registry is read. Its rate is the share of wall time: `input` near 1 is a source keeping up
 * with PostgreSQL; `produce` and `commit` are time the stream could not go on because Kafka had
 * not answered (one produce request in flight; a commit sends the rest of the batch and the
 * checkpoint, then ends the Kafka transaction).
 */
export class StreamWaits {
  readonly #ms: Record<StreamWait, number> = { input: 0, produce: 0, commit: 0 };

  add(on: StreamWait, ms: number): void {
    if (ms > 0) this.#ms[on] += ms;
  }

  flush(counter: Counter<'waiting_for'>): void {
    for (const on of Object.keys(this.#ms) as StreamWait[]) {
      const ms = this.#ms[on];
      // Every label is exported from the first read on (0 until it has waited), so a rate exists.
      counter.inc({ waiting_for: on }, ms / 1000);
      this.#ms[on] = 0;
    }
  }
}

export interface SourceMetrics {
  /** Counted per change by the stream (through `counts`), per chunk by snapshots. */
  readonly changes: Counter<'table' | 'op'>;
  readonly counts: StreamCounts;
  /** Time the stream waited, by what for (walrelay_source_wait_seconds_total, added when read). */
  readonly waits: StreamWaits;
  readonly transactions: Counter<string>;
  readonly kafkaTransactions: Counter<string>;
  readonly bytes: Counter<string>;
  readonly lagBytes: Gauge<string>;
  readonly lagSeconds: Gauge<string>;
  /** What walrelay_source_replication_lag_seconds reads (see ReplicationLagClock). */
  readonly lag: ReplicationLagClock;
  readonly produceLatency: Histogram<string>;
  readonly commitLatency: Histogram<string>;
  readonly snapshotRows: Counter<'table'>;
  readonly snapshotEstimate: Gauge<'table'>;
  readonly confirmedLsn: Gauge<string>;
  readonly active: Gauge<string>;
  readonly skipped: Counter<'reason'>;
}

export function createSourceMetrics(registry: Registry): SourceMetrics {
  const r = [registry];
  const lag = new ReplicationLagClock();
  const counts = new StreamCounts();
  const waits = new StreamWaits();
  // Registered here and read through the registry only; the stream adds to `waits`.
  new Counter({
    name: 'walrelay_source_wait_seconds_total',
    help: 'Time the stream waited, by what for: input (the replication stream: nothing to publish), produce (the produce request in flight, before handing over the next batch), commit (a Kafka commit: the rest of the batch, the checkpoint, EndTxn)',
    labelNames: ['waiting_for'],
    registers: r,
    collect() {
      waits.flush(this);
    },
  });
  return {
    lag,
    counts,
    waits,
    changes: new Counter({
      name: 'walrelay_source_changes_total',
      help: 'Row changes published, by table and op',
      labelNames: ['table', 'op'],
      registers: r,
      collect() {
        counts.flushChanges(this);
      },
    }),
    transactions: new Counter({ name: 'walrelay_source_transactions_total', help: 'PostgreSQL transactions published', registers: r }),
    kafkaTransactions: new Counter({ name: 'walrelay_source_kafka_transactions_total', help: 'Kafka transactions committed', registers: r }),
    bytes: new Counter({
      name: 'walrelay_source_bytes_total',
      help: 'Record bytes (key + value) published',
      registers: r,
      collect() {
        counts.flushBytes(this);
      },
    }),
    lagBytes: new Gauge({ name: 'walrelay_source_replication_lag_bytes', help: 'WAL the server has sent (the walsender reports only how far it has decoded) minus the LSN confirmed to PostgreSQL; the WAL the server keeps for the slot is walrelay_source_slot_retained_wal_bytes', registers: r }),
    lagSeconds: new Gauge({
      name: 'walrelay_source_replication_lag_seconds',
      help: 'Age of the oldest PostgreSQL commit received but not yet committed to Kafka (0 when nothing is pending)',
      registers: r,
      collect() {
        this.set(lag.seconds);
      },
    }),
    produceLatency: new Histogram({ name: 'walrelay_source_produce_seconds', help: 'Latency of one produce request into the open transaction', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r }),
    commitLatency: new Histogram({ name: 'walrelay_source_commit_to_ack_seconds', help: 'From PostgreSQL commit time to Kafka transaction commit', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    snapshotRows: new Counter({ name: 'walrelay_source_snapshot_rows_total', help: 'Rows read by the initial snapshot', labelNames: ['table'], registers: r }),
    snapshotEstimate: new Gauge({ name: 'walrelay_source_snapshot_rows_estimated', help: 'Estimated rows per table to snapshot', labelNames: ['table'], registers: r }),
    confirmedLsn: new Gauge({ name: 'walrelay_source_confirmed_lsn', help: 'LSN last confirmed to PostgreSQL', registers: r }),
    active: new Gauge({ name: 'walrelay_source_active', help: '1 when this process holds the slot, 0 while a standby', registers: r }),
    skipped: new Counter({ name: 'walrelay_source_skipped_changes_total', help: 'Changes skipped (already published before a restart, or tables without a key)', labelNames: ['reason'], registers: r }),
  };
}
