import { z } from 'zod/v3';
import type { EnvBindings } from '@walrelay/core';

/**
 * Settings of a table's life in the source: lost slots, the slot's FAILOVER option,
 * incremental snapshots. Spread into the source's config schema.
 */
export const lifecycleConfig = {
  /**
   * What to do when the checkpoint shows a slot walrelay created and the slot is gone.
   * `fail`: stop with an error. `resync`: create the slot, truncate every captured table in the
   * targets (a marker on every partition) and read each table again incrementally.
   */
  onSlotLost: z.enum(['fail', 'resync']).default('fail'),
  /** PostgreSQL 17+: create the slot with FAILOVER, so it is synchronised to standbys. */
  slotFailover: z.boolean().default(false),
  incremental: z
    .object({
      /** Rows per chunk of an incremental snapshot (one chunk in memory at a time). */
      chunkSize: z.number().int().min(1).max(1_000_000).default(1024),
      /** Snapshot every table that joins the publication after the first snapshot. */
      newTables: z.boolean().default(true),
      /** How often the publication's tables are compared with the checkpoint's. */
      newTablesPollMs: z.number().int().min(100).default(5_000),
      /** The signal table (`schema.table`): inserts into it start or stop incremental snapshots. */
      signalTable: z.string().min(1).default('public.walrelay_signals'),
    })
    .strict()
    .default({}),
};

export const lifecycleEnv: EnvBindings = {
  WALRELAY_ON_SLOT_LOST: { path: ['onSlotLost'] },
  WALRELAY_SLOT_FAILOVER: { path: ['slotFailover'], type: 'bool' },
  WALRELAY_SNAPSHOT_CHUNK_SIZE: { path: ['incremental', 'chunkSize'], type: 'int' },
  WALRELAY_SNAPSHOT_NEW_TABLES: { path: ['incremental', 'newTables'], type: 'bool' },
  WALRELAY_SNAPSHOT_NEW_TABLES_POLL_MS: { path: ['incremental', 'newTablesPollMs'], type: 'int' },
  WALRELAY_SIGNAL_TABLE: { path: ['incremental', 'signalTable'] },
};
