import { avroType, decodeAvro, encodeAvro, DecodeError } from '@walrelay/core';

/** Format 1 (walrelay 0.1): still read, never written. */
const CHECKPOINT_SCHEMA_V1 = {
  type: 'record',
  name: 'SourceCheckpoint',
  namespace: 'io.walrelay',
  fields: [
    { name: 'slot', type: 'string' },
    { name: 'commit_lsn', type: 'long' },
    { name: 'end_lsn', type: 'long' },
    { name: 'partial_final_lsn', type: ['null', 'long'], default: null },
    { name: 'partial_published', type: 'long', default: 0 },
    { name: 'snapshot', type: { type: 'enum', name: 'SnapshotState', symbols: ['NONE', 'RUNNING', 'DONE'] }, default: 'NONE' },
    { name: 'snapshot_consistent_lsn', type: ['null', 'long'], default: null },
    { name: 'updated_ms', type: 'long' },
  ],
} as const;

/**
 * Format 2 adds, each with a default so a format-1 record resolves: when walrelay created
 * the slot, the incremental snapshots in progress (with the last key of the last finished
 * chunk), and the tables whose rows walrelay has already read or owes. Still read.
 */
const CHECKPOINT_SCHEMA_V2 = {
  type: 'record',
  name: 'SourceCheckpoint',
  namespace: 'io.walrelay',
  fields: [
    ...CHECKPOINT_SCHEMA_V1.fields.slice(0, 7),
    { name: 'updated_ms', type: 'long' },
    { name: 'slot_created_ms', type: ['null', 'long'], default: null },
    {
      name: 'incremental',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'IncrementalSnapshot',
          fields: [
            { name: 'id', type: 'string' },
            { name: 'schema', type: 'string' },
            { name: 'table', type: 'string' },
            { name: 'condition', type: ['null', 'string'], default: null },
            { name: 'last_key', type: ['null', 'string'], default: null },
            { name: 'rows', type: 'long', default: 0 },
            { name: 'reason', type: 'string', default: 'signal' },
          ],
        },
      },
      default: [],
    },
    {
      name: 'known_tables',
      type: ['null', { type: 'array', items: { type: 'record', name: 'KnownTable', fields: [{ name: 'schema', type: 'string' }, { name: 'table', type: 'string' }] } }],
      default: null,
    },
  ],
} as const;

/**
 * Mirrors schemas/checkpoint.avsc (a unit test keeps the two equal). Format 3 adds
 * `resync_owed` (default false, so format 1 and 2 records resolve): the slot was lost under
 * `onSlotLost: resync`, and the resync's truncate markers are not published yet — written
 * before the new slot is created, so a failure at any point leaves the resync owed.
 */
export const CHECKPOINT_SCHEMA = {
  ...CHECKPOINT_SCHEMA_V2,
  fields: [...CHECKPOINT_SCHEMA_V2.fields, { name: 'resync_owed', type: 'boolean', default: false }],
} as const;

export type SnapshotState = 'NONE' | 'RUNNING' | 'DONE';

/** One table's incremental snapshot: chunks after `lastKey` are still to be read. */
export interface IncrementalProgress {
  readonly id: string;
  readonly schema: string;
  readonly table: string;
  /** A WHERE fragment limiting the rows read (null: every row the publication publishes). */
  readonly condition: string | null;
  /** JSON array of the key values (PostgreSQL text) of the last row of the last finished chunk; null: none yet. */
  readonly lastKey: string | null;
  readonly rows: bigint;
  /** Why it runs: `signal`, `new_table`, `initial` (an initial snapshot resumed), `column_default`, `toast_key_change` (queued by the stream). */
  readonly reason: string;
}

export interface KnownTable {
  readonly schema: string;
  readonly table: string;
}

/**
 * How far a source got, written atomically with the records it covers.
 * On restart the source skips every transaction whose commit LSN is at or below
 * `commitLsn`, and the first `partialPublished` changes of the transaction
 * whose commit LSN is `partialFinalLsn`.
 */
export interface SourceCheckpoint {
  readonly slot: string;
  readonly commitLsn: bigint;
  readonly endLsn: bigint;
  readonly partialFinalLsn: bigint | null;
  readonly partialPublished: bigint;
  /**
   * NONE: no snapshot owed. RUNNING: the initial snapshot is owed — written before the
   * slot is created, so a failure at any point leaves it owed (with
   * `snapshotConsistentLsn` null until the slot exists). DONE: published.
   */
  readonly snapshot: SnapshotState;
  readonly snapshotConsistentLsn: bigint | null;
  /** Epoch ms when walrelay created the slot this checkpoint follows; null before it did (or format 1). */
  readonly slotCreatedMs?: bigint | null;
  /** Epoch ms the checkpoint was written (set on decode; ignored on encode). */
  readonly updatedMs?: bigint;
  /** Incremental snapshots owed or in progress, in the order they run. */
  readonly incremental?: readonly IncrementalProgress[];
  /** Tables whose rows walrelay has read (or owes); null: not tracked yet (format 1). */
  readonly knownTables?: readonly KnownTable[] | null;
  /** A lost slot is being resynced and its truncate markers are not published yet (format 3). */
  readonly resyncOwed?: boolean;
}

const FORMAT_VERSION = 3;
const type = avroType(CHECKPOINT_SCHEMA);
const v1Resolver = type.createResolver(avroType(CHECKPOINT_SCHEMA_V1));
const v2Resolver = type.createResolver(avroType(CHECKPOINT_SCHEMA_V2));

interface Encoded {
  slot: string;
  commit_lsn: bigint;
  end_lsn: bigint;
  partial_final_lsn: bigint | null;
  partial_published: bigint;
  snapshot: SnapshotState;
  snapshot_consistent_lsn: bigint | null;
  updated_ms: bigint;
  slot_created_ms: bigint | null;
  incremental: { id: string; schema: string; table: string; condition: string | null; last_key: string | null; rows: bigint; reason: string }[];
  known_tables: KnownTable[] | null;
  resync_owed: boolean;
}

export function encodeCheckpoint(cp: SourceCheckpoint): Buffer {
  const value: Encoded = {
    slot: cp.slot,
    commit_lsn: cp.commitLsn,
    end_lsn: cp.endLsn,
    partial_final_lsn: cp.partialFinalLsn,
    partial_published: cp.partialPublished,
    snapshot: cp.snapshot,
    snapshot_consistent_lsn: cp.snapshotConsistentLsn,
    updated_ms: BigInt(Date.now()),
    slot_created_ms: cp.slotCreatedMs ?? null,
    incremental: (cp.incremental ?? []).map((p) => ({
      id: p.id,
      schema: p.schema,
      table: p.table,
      condition: p.condition,
      last_key: p.lastKey,
      rows: p.rows,
      reason: p.reason,
    })),
    known_tables: cp.knownTables ? cp.knownTables.map((t) => ({ schema: t.schema, table: t.table })) : null,
    resync_owed: cp.resyncOwed === true,
  };
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), encodeAvro(type, value)]);
}

export function decodeCheckpoint(bytes: Buffer): SourceCheckpoint {
  if (bytes.length < 2 || (bytes[0] !== FORMAT_VERSION && bytes[0] !== 1 && bytes[0] !== 2)) {
    throw new DecodeError(`checkpoint record has unknown format version ${bytes[0]}`);
  }
  let v: Encoded;
  try {
    const body = bytes.subarray(1);
    v = (bytes[0] === 1 ? type.fromBuffer(body, v1Resolver) : bytes[0] === 2 ? type.fromBuffer(body, v2Resolver) : decodeAvro(type, body)) as Encoded;
  } catch (cause) {
    if (cause instanceof DecodeError) throw cause;
    throw new DecodeError(`checkpoint record (format ${bytes[0]}) does not decode: ${(cause as Error).message}`, { cause });
  }
  return {
    slot: v.slot,
    commitLsn: v.commit_lsn,
    endLsn: v.end_lsn,
    partialFinalLsn: v.partial_final_lsn,
    partialPublished: v.partial_published,
    snapshot: v.snapshot,
    snapshotConsistentLsn: v.snapshot_consistent_lsn,
    slotCreatedMs: v.slot_created_ms,
    updatedMs: v.updated_ms,
    incremental: v.incremental.map((p) => ({
      id: p.id,
      schema: p.schema,
      table: p.table,
      condition: p.condition,
      lastKey: p.last_key,
      rows: p.rows,
      reason: p.reason,
    })),
    knownTables: v.known_tables ? v.known_tables.map((t) => ({ schema: t.schema, table: t.table })) : null,
    resyncOwed: v.resync_owed,
  };
}

/** Encodes in format 2 (for tests that prove a checkpoint of the previous format still reads). */
export function encodeCheckpointV2(cp: SourceCheckpoint): Buffer {
  const { resync_owed: _r, ...rest } = decodeAvro(type, encodeCheckpoint(cp).subarray(1)) as Encoded;
  return Buffer.concat([Buffer.from([2]), encodeAvro(avroType(CHECKPOINT_SCHEMA_V2), rest)]);
}

/** Encodes in format 1 (for tests that prove an old checkpoint still reads). */
export function encodeCheckpointV1(cp: SourceCheckpoint, updatedMs = BigInt(Date.now())): Buffer {
  const body = encodeAvro(avroType(CHECKPOINT_SCHEMA_V1), {
    slot: cp.slot,
    commit_lsn: cp.commitLsn,
    end_lsn: cp.endLsn,
    partial_final_lsn: cp.partialFinalLsn,
    partial_published: cp.partialPublished,
    snapshot: cp.snapshot,
    snapshot_consistent_lsn: cp.snapshotConsistentLsn,
    updated_ms: updatedMs,
  });
  return Buffer.concat([Buffer.from([1]), body]);
}

export function emptyCheckpoint(slot: string): SourceCheckpoint {
  return {
    slot,
    commitLsn: 0n,
    endLsn: 0n,
    partialFinalLsn: null,
    partialPublished: 0n,
    snapshot: 'NONE',
    snapshotConsistentLsn: null,
    slotCreatedMs: null,
    incremental: [],
    knownTables: null,
  };
}
