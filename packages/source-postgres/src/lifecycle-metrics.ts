import { Counter, Gauge, type Registry } from '@walrelay/core';

/** Metrics of a table's life in the source: incremental snapshots and the slot. */
export interface LifecycleMetrics {
  readonly rows: Counter<'table'>;
  readonly chunks: Counter<'table'>;
  readonly chunkRetries: Counter<'table'>;
  readonly pending: Gauge<string>;
  /** 1 when the source stopped because the slot its checkpoint follows is gone. */
  readonly slotLost: Gauge<string>;
  /** Resyncs of a lost slot started (`onSlotLost: resync`). */
  readonly slotResyncs: Counter<string>;
}

export function createLifecycleMetrics(registry: Registry): LifecycleMetrics {
  const r = [registry];
  return {
    rows: new Counter({ name: 'walrelay_source_incremental_snapshot_rows_total', help: 'Rows published by incremental snapshots', labelNames: ['table'], registers: r }),
    chunks: new Counter({ name: 'walrelay_source_incremental_snapshot_chunks_total', help: 'Incremental snapshot chunks published', labelNames: ['table'], registers: r }),
    chunkRetries: new Counter({ name: 'walrelay_source_incremental_snapshot_chunk_retries_total', help: 'Chunks read again (truncate or schema change in the window, a commit not yet visible)', labelNames: ['table'], registers: r }),
    pending: new Gauge({ name: 'walrelay_source_incremental_snapshots_pending', help: 'Tables whose incremental snapshot is queued or running', registers: r }),
    slotLost: new Gauge({ name: 'walrelay_source_slot_lost', help: '1 when the source stopped because the replication slot its checkpoint follows is gone', registers: r }),
    slotResyncs: new Counter({ name: 'walrelay_source_slot_resyncs_total', help: 'Lost slots resynced (onSlotLost resync): every table truncated in the targets and read again', registers: r }),
  };
}
