import { avroType, decodeAvro, encodeAvro, DecodeError } from '@walrelay/core';

/** Mirrors schemas/checkpoint.avsc (a unit test keeps the two equal). */
export const CHECKPOINT_SCHEMA = {
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

export type SnapshotState = 'NONE' | 'RUNNING' | 'DONE';

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
  readonly snapshot: SnapshotState;
  readonly snapshotConsistentLsn: bigint | null;
}

const FORMAT_VERSION = 1;
const type = avroType(CHECKPOINT_SCHEMA);

export function encodeCheckpoint(cp: SourceCheckpoint): Buffer {
  const body = encodeAvro(type, {
    slot: cp.slot,
    commit_lsn: cp.commitLsn,
    end_lsn: cp.endLsn,
    partial_final_lsn: cp.partialFinalLsn,
    partial_published: cp.partialPublished,
    snapshot: cp.snapshot,
    snapshot_consistent_lsn: cp.snapshotConsistentLsn,
    updated_ms: BigInt(Date.now()),
  });
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), body]);
}

export function decodeCheckpoint(bytes: Buffer): SourceCheckpoint {
  if (bytes.length < 2 || bytes[0] !== FORMAT_VERSION) {
    throw new DecodeError(`checkpoint record has unknown format version ${bytes[0]}`);
  }
  const v = decodeAvro(type, bytes.subarray(1)) as {
    slot: string;
    commit_lsn: bigint;
    end_lsn: bigint;
    partial_final_lsn: bigint | null;
    partial_published: bigint;
    snapshot: SnapshotState;
    snapshot_consistent_lsn: bigint | null;
  };
  return {
    slot: v.slot,
    commitLsn: v.commit_lsn,
    endLsn: v.end_lsn,
    partialFinalLsn: v.partial_final_lsn,
    partialPublished: v.partial_published,
    snapshot: v.snapshot,
    snapshotConsistentLsn: v.snapshot_consistent_lsn,
  };
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
  };
}
