import { Counter, Gauge, Histogram, type Registry } from '@walrelay/core';
import { EndToEndClock } from './end-to-end-clock.js';

export interface SinkMetrics {
  readonly applied: Counter<'table' | 'op'>;
  readonly batchSize: Histogram<string>;
  readonly applyLatency: Histogram<string>;
  readonly endToEnd: Histogram<string>;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly deadLetters: Counter<'topic' | 'stage'>;
  readonly retries: Counter<string>;
  /** Records of a table the target refused (its DDL or key check failed), by target table. */
  readonly tableRefusedRecords: Counter<'table'>;
  /** 1 while a target table is refused by this process. */
  readonly tableRefused: Gauge<'table'>;
  /** Commit time and age of the newest change applied (walrelay_sink_last_change_*; see end-to-end-clock.ts). */
  readonly clock: EndToEndClock;
}

export function createSinkMetrics(registry: Registry): SinkMetrics {
  const r = [registry];
  return {
    applied: new Counter({ name: 'walrelay_sink_records_applied_total', help: 'Change records applied to the target, by table and op', labelNames: ['table', 'op'], registers: r }),
    batchSize: new Histogram({ name: 'walrelay_sink_batch_records', help: 'Records per target transaction', buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000], registers: r }),
    applyLatency: new Histogram({ name: 'walrelay_sink_apply_seconds', help: 'Duration of one target transaction', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r }),
    endToEnd: new Histogram({ name: 'walrelay_sink_end_to_end_seconds', help: 'From PostgreSQL commit to target commit', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: r }),
    lag: new Gauge({ name: 'walrelay_sink_consumer_lag', help: 'Records behind the partition high watermark at the last fetch', labelNames: ['topic', 'partition'], registers: r }),
    deadLetters: new Counter({ name: 'walrelay_sink_dead_letters_total', help: 'Records that could not be decoded or applied', labelNames: ['topic', 'stage'], registers: r }),
    retries: new Counter({ name: 'walrelay_sink_retries_total', help: 'Target transactions retried after a retriable error', registers: r }),
    tableRefusedRecords: new Counter({ name: 'walrelay_sink_table_refused_records_total', help: 'Records of a refused target table (sent to the dead-letter topic)', labelNames: ['table'], registers: r }),
    tableRefused: new Gauge({ name: 'walrelay_sink_table_refused', help: '1 while the target table is refused (cannot be created or does not match the source key)', labelNames: ['table'], registers: r }),
    clock: new EndToEndClock(registry),
  };
}
