import { errorMessage, type Logger } from '@walrelay/core';
import type { StoredOffset, TargetDriver, TargetTable } from '../target.js';
import type { RecordSource } from './record-source.js';

/** Stands for "no table" in an apply that only writes offsets rows. */
export const NO_TABLE: TargetTable = { name: '', shape: { schema: '', table: '', columns: [] } };

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * The sink's position per partition. The authority is the target's walrelay_offsets
 * (written in the same transaction as the rows); this keeps the process's copy of it,
 * loads it on every assignment and seeks the source there, and commits the Kafka offset
 * after each target commit (for lag tools; a failure there is logged, never fatal).
 */
export class OffsetsStore {
  readonly #driver: TargetDriver;
  readonly #groupId: string;
  readonly #log: Logger;
  /** Next offset to apply per partition, as stored in the target. */
  readonly #applied = new Map<string, bigint>();
  /** Settles when the offsets of the current assignment are loaded. */
  #loaded: Promise<void> = Promise.resolve();
  /** Kafka offset commits not sent yet, one per partition (the newest position). */
  readonly #queued = new Map<string, { source: RecordSource; topic: string; partition: number; next: bigint; metadata: string }>();
  /** The loop sending #queued, while there is any (never rejects). */
  #committing: Promise<void> | undefined;

  constructor(driver: TargetDriver, groupId: string, log: Logger) {
    this.#driver = driver;
    this.#groupId = groupId;
    this.#log = log;
  }

  get groupId(): string {
    return this.#groupId;
  }

  /** Every walrelay_offsets row of the group (partitions and truncate-barrier rows). */
  load(): Promise<StoredOffset[]> {
    return this.#driver.loadOffsets(this.#groupId);
  }

  /**
   * A new assignment: load the stored offsets, then (before any batch of it is applied)
   * run `beforeSeek` and seek every assigned partition that has a stored offset.
   */
  assign(source: RecordSource, assignment: ReadonlyMap<string, readonly number[]>, beforeSeek: () => void): Promise<void> {
    this.#loaded = (async () => {
      const stored = await this.load();
      this.#applied.clear();
      beforeSeek();
      for (const o of stored) this.#applied.set(partitionKey(o.topic, o.partition), o.nextOffset);
      let seeks = 0;
      let partitions = 0;
      for (const [topic, list] of assignment) {
        for (const partition of list) {
          partitions++;
          const next = this.#applied.get(partitionKey(topic, partition));
          if (next !== undefined) {
            source.seek(topic, partition, next);
            seeks++;
          }
        }
      }
      this.#log.info({ partitions, seeks }, 'partitions assigned; positions taken from the target');
    })();
    return this.#loaded;
  }

  /** Waits until the current assignment's offsets are known. */
  ready(): Promise<void> {
    return this.#loaded;
  }

  next(topic: string, partition: number): bigint | undefined {
    return this.#applied.get(partitionKey(topic, partition));
  }

  advance(topic: string, partition: number, next: bigint): void {
    this.#applied.set(partitionKey(topic, partition), next);
  }

  /** One target transaction that only moves a partition's offset (a consumed marker, dead letters). */
  saveOnly(topic: string, partition: number, nextOffset: bigint, sourceLsn: bigint | null, table: TargetTable = NO_TABLE): Promise<void> {
    return this.#driver.apply({ table, steps: [], offsets: [{ groupId: this.#groupId, topic, partition, nextOffset, sourceLsn }] });
  }

  /** After a stale batch: take the target's offset for the partition and seek there. */
  async realign(source: RecordSource, topic: string, partition: number): Promise<void> {
    const stored = (await this.load()).find((o) => o.topic === topic && o.partition === partition);
    if (!stored) return;
    this.advance(topic, partition, stored.nextOffset);
    source.seek(topic, partition, stored.nextOffset);
  }

  /**
   * The target has committed up to `next`: commit the Kafka offset too, with the LSN alongside.
   * The Kafka commit is not waited for (the next batch does not pay the coordinator's round
   * trip). One commit is in flight at a time; a partition's newer position replaces one still
   * queued, so the queue holds at most one commit per partition and a partition's group offset
   * never moves backwards. `flushCommits` waits for the queue to empty (a clean stop).
   */
  committed(source: RecordSource, topic: string, partition: number, next: bigint, lsn: bigint | null): void {
    this.advance(topic, partition, next);
    this.#queued.set(partitionKey(topic, partition), { source, topic, partition, next, metadata: JSON.stringify({ lsn: lsn?.toString() ?? null }) });
    this.#committing ??= this.#commitQueued();
  }

  async #commitQueued(): Promise<void> {
    try {
      while (this.#queued.size > 0) {
        const [key, c] = this.#queued.entries().next().value!;
        this.#queued.delete(key);
        await c.source
          .commit(c.topic, c.partition, c.next, c.metadata)
          .catch((e: unknown) => this.#log.warn({ err: errorMessage(e) }, 'Kafka offset commit failed (the target holds the authoritative position)'));
      }
    } finally {
      this.#committing = undefined;
    }
  }

  /** Settles when every Kafka offset commit handed to `committed` so far has been answered. */
  async flushCommits(): Promise<void> {
    while (this.#committing) await this.#committing;
  }
}
