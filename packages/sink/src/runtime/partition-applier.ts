import { DecodeError, isRetriable, MissingColumnError, RESYNC_HEADER, ValueError, valueSubject, type Logger, type TableShape } from '@walrelay/core';
import { fieldMapping, remapChange } from '../shape-mapping.js';
import { coalesce, type TableChange } from '../coalesce.js';
import type { SinkMetrics } from '../metrics.js';
import type { AppliedSource } from '../envelope-reader.js';
import type { DecodedRecord, RecordDecoder } from '../record-decoder.js';
import { StaleBatchError, type StoredOffset, type TargetDriver } from '../target.js';
import type { DeadLetters } from './dead-letters.js';
import { NO_TABLE, type OffsetsStore } from './offsets-store.js';
import type { BatchControl, RecordSource, SourceBatch, SourceRecord } from './record-source.js';
import { TableRefusedError, type TargetTables } from './table-ddl.js';
import { asTruncate, barrierPartitions, type TruncateBarrier } from './truncate-barrier.js';

/** What the applier needs of the record decoder (the registry-backed one, or a test's). */
export type RecordDecoding = Pick<RecordDecoder, 'decode' | 'latestShape'> & Partial<Pick<RecordDecoder, 'decodeKnown'>>;

interface Decoded {
  readonly message: SourceRecord;
  readonly record: DecodedRecord;
}

export interface PartitionApplierOptions {
  readonly driver: TargetDriver;
  readonly source: RecordSource;
  readonly decoder: RecordDecoding;
  readonly offsets: OffsetsStore;
  readonly tables: TargetTables;
  readonly barrier: TruncateBarrier;
  readonly deadLetters: DeadLetters;
  /** Runs one target transaction with the retry policy (heartbeating while it waits). */
  readonly apply: (fn: () => Promise<void>, heartbeat: () => Promise<void>) => Promise<void>;
  readonly maxRecords: number;
  readonly truncate: 'apply' | 'ignore';
  readonly metrics: SinkMetrics;
  readonly log: Logger;
}

/**
 * Applies the batches of the partitions: skips what the target already has, cuts the
 * batch into chunks of at most `maxRecords` that stop before a multi-partition truncate
 * marker, and applies each chunk as ONE target transaction (coalesced steps plus the
 * partition's offsets row, fenced on the chunk's first offset). Only after the target
 * committed is the Kafka offset committed. A record that cannot be decoded or stored, or
 * whose table is refused, goes through the dead-letter policy.
 */
export class PartitionApplier {
  readonly #o: PartitionApplierOptions;

  constructor(options: PartitionApplierOptions) {
    this.#o = options;
  }

  async batch(batch: SourceBatch, control: BatchControl): Promise<void> {
    const o = this.#o;
    const { topic, partition } = batch;
    o.metrics.lag.set({ topic, partition: String(partition) }, batch.lag);
    await o.offsets.ready();
    const applied = o.offsets.next(topic, partition);
    const records = applied === undefined ? batch.records : batch.records.filter((m) => m.offset >= applied);
    if (records.length === 0) {
      if (batch.records.length > 0) control.resolve(batch.lastOffset);
      return;
    }
    let i = 0;
    while (i < records.length) {
      if (!control.active()) return;
      // A truncate written to several partitions is a barrier: apply up to it, then wait
      // until every partition of the topic has reached its copy (TruncateBarrier).
      let end = Math.min(records.length, i + o.maxRecords);
      const barrier = records.slice(i, end).findIndex((m) => barrierPartitions(m) > 1);
      if (barrier > 0) end = i + barrier;
      if (barrier !== 0) {
        const chunk = records.slice(i, end);
        try {
          await this.#applyChunk(topic, partition, chunk, control.heartbeat);
        } catch (e) {
          if (!(e instanceof StaleBatchError)) throw e;
          // Another process owns this partition now (a rebalance this one has not seen yet):
          // drop the batch; the next assignment seeks to the target's offset.
          o.log.warn({ topic, partition, err: e.message }, 'stale batch dropped');
          await o.offsets.realign(o.source, topic, partition);
          return;
        }
        control.resolve((chunk[chunk.length - 1] as SourceRecord).offset);
        await control.heartbeat();
        i = end;
        continue;
      }
      const marker = records[i] as SourceRecord;
      if (!(await this.#passMarker(topic, partition, marker, control))) return;
      i++;
    }
  }

  /** A multi-partition truncate marker: false while the partition waits at the barrier. */
  async #passMarker(topic: string, partition: number, marker: SourceRecord, control: BatchControl): Promise<boolean> {
    const o = this.#o;
    const next = marker.offset + 1n;
    const refused = o.tables.refusal(topic);
    if (refused) {
      await o.deadLetters.handle(topic, partition, marker, refused, 'table', refused.table);
    } else {
      this.#warnIgnoredResync(topic, marker);
      const record = asTruncate(topic, partition, marker, await o.decoder.decode(marker.key, marker.value, marker.headers, topic));
      let state: 'waiting' | 'done';
      try {
        state = await o.barrier.reach(topic, partition, marker, record);
      } catch (e) {
        if (!(e instanceof TableRefusedError)) throw e;
        await o.deadLetters.handle(topic, partition, marker, e, 'table', e.table);
        state = 'done';
      }
      if (state === 'waiting') return false;
    }
    // Done (by this partition or another): consume the marker.
    await o.apply(() => o.offsets.saveOnly(topic, partition, next, null), control.heartbeat);
    o.offsets.advance(topic, partition, next);
    control.resolve(marker.offset);
    return true;
  }

  /**
   * Debezium writes one truncate record, on one partition: with several partitions it cannot be
   * ordered against the other partitions' changes, so it is refused rather than applied at the
   * wrong point (walrelay-source writes a marker to every partition instead).
   */
  async #checkDebeziumTruncate(topic: string, shape: { schema: string; table: string }): Promise<void> {
    const n = this.#debeziumPartitions.get(topic) ?? (await this.#o.source.partitionCount(topic));
    this.#debeziumPartitions.set(topic, n);
    if (n > 1) {
      throw new DecodeError(
        `Debezium truncate of ${shape.schema}.${shape.table} on topic ${topic} with ${n} partitions: a truncate that reaches one partition cannot be ordered against the others' changes, so it is not applied (give the table's topic one partition, or truncate through walrelay-source, which marks every partition)`,
      );
    }
  }

  readonly #debeziumPartitions = new Map<string, number>();
  readonly #warnedResync = new Set<string>();

  /** A resync's truncate (onSlotLost: resync) under `truncate: ignore`: the target keeps rows deleted while the slot was gone. */
  #warnIgnoredResync(topic: string, record: SourceRecord): void {
    if (this.#o.truncate !== 'ignore' || record.headers[RESYNC_HEADER] === undefined || this.#warnedResync.has(topic)) return;
    this.#warnedResync.add(topic);
    this.#o.log.warn(
      { topic },
      'the source resynced a lost slot and truncated this table, but truncate is ignore: the target keeps the rows deleted while the slot was gone (set truncate: apply, or rebuild the table from its topic)',
    );
  }

  async #applyChunk(topic: string, partition: number, chunk: readonly SourceRecord[], heartbeat: () => Promise<void>): Promise<void> {
    const o = this.#o;
    const decoded: Decoded[] = [];
    for (const message of chunk) {
      try {
        const record = o.decoder.decodeKnown?.(message.key, message.value, message.headers) ?? (await o.decoder.decode(message.key, message.value, message.headers, topic));
        if (record.kind === 'truncate' && record.origin === 'debezium') await this.#checkDebeziumTruncate(topic, record.shape);
        decoded.push({ message, record });
      } catch (e) {
        if (isRetriable(e)) throw e;
        await o.deadLetters.handle(topic, partition, message, e, 'decode');
      }
    }
    const first = (chunk[0] as SourceRecord).offset;
    const nextOffset = (chunk[chunk.length - 1] as SourceRecord).offset + 1n;
    const started = performance.now();
    try {
      await o.apply(() => this.#applyDecoded(topic, partition, decoded, nextOffset), heartbeat);
    } catch (e) {
      if (e instanceof TableRefusedError) {
        for (const d of decoded) await o.deadLetters.handle(topic, partition, d.message, e, 'table', e.table);
        await o.apply(() => this.#saveFenced(topic, partition, first, nextOffset), heartbeat);
      } else if (e instanceof ValueError) {
        // A value the target refuses: apply record by record to isolate it.
        o.log.warn({ topic, partition, err: e.message }, 'batch refused by the target; isolating the bad record');
        for (const d of decoded) {
          const off = d.message.offset + 1n;
          try {
            await o.apply(() => this.#applyDecoded(topic, partition, [d], off), heartbeat);
          } catch (inner) {
            if (!(inner instanceof ValueError)) throw inner;
            await o.deadLetters.handle(topic, partition, d.message, inner, 'apply');
            await o.apply(() => this.#applyDecoded(topic, partition, [], off), heartbeat);
          }
        }
        await o.apply(() => this.#applyDecoded(topic, partition, [], nextOffset), heartbeat);
      } else {
        throw e;
      }
    }
    o.metrics.applyLatency.observe((performance.now() - started) / 1000);
    o.metrics.batchSize.observe(chunk.length);
    // The target is committed: commit the Kafka offset too (lag tools), with the LSN alongside.
    o.offsets.committed(o.source, topic, partition, nextOffset, lastLsn(decoded));
    const now = Date.now();
    // The clock needs only the newest commit of each run of one table's changes (a topic holds one
    // table): one call per run, not one per record (each built the table's name: 1.5% of a sink).
    let newest: AppliedSource | undefined;
    for (const d of decoded) {
      if (d.record.kind === 'tombstone') continue;
      const source = d.record.envelope.source;
      const snap = source.snapshot;
      if (snap === 'true' || snap === 'incremental' || !(source.ts_ms > 0n)) continue;
      o.metrics.endToEnd.observe(Math.max(0, now - Number(source.ts_ms)) / 1000);
      if (newest === undefined || newest.table !== source.table || newest.schema !== source.schema) {
        if (newest !== undefined) o.metrics.clock.applied(newest);
        newest = source;
      } else if (source.ts_ms > newest.ts_ms) newest = source;
    }
    if (newest !== undefined) o.metrics.clock.applied(newest);
  }

  /** Only the offsets row, fenced on the chunk's first offset (the chunk's records went to the dead-letter policy). */
  #saveFenced(topic: string, partition: number, first: bigint, nextOffset: bigint): Promise<void> {
    const o = this.#o;
    return o.driver.apply({ table: NO_TABLE, steps: [], offsets: [{ groupId: o.offsets.groupId, topic, partition, nextOffset, sourceLsn: null, expectedFrom: first }] });
  }

  async #applyDecoded(topic: string, partition: number, decoded: readonly Decoded[], nextOffset: bigint, refreshed = false): Promise<void> {
    const o = this.#o;
    // Each change with the shape of the schema version it was written with (null: a tombstone).
    const changes: { change: TableChange; shape: TableShape | null }[] = [];
    let shape: TableShape | undefined;
    let schemaId = -1;
    const counts = new Map<string, number>();
    for (const d of decoded) {
      const r = d.record;
      if (r.kind === 'tombstone') {
        // Normally redundant (a delete record precedes it), but a consumer that lags behind
        // the log cleaner may find only the tombstone: it deletes the row either way.
        if (r.key) changes.push({ change: { kind: 'delete', key: r.key }, shape: null });
        continue;
      }
      if (r.schemaId >= schemaId) {
        shape = r.shape;
        schemaId = r.schemaId;
      }
      if (r.kind === 'truncate') {
        this.#warnIgnoredResync(topic, d.message);
        if (o.truncate === 'apply') changes.push({ change: { kind: 'truncate' }, shape: r.shape });
        counts.set('t', (counts.get('t') ?? 0) + 1);
        continue;
      }
      changes.push({ change: { kind: 'change', key: r.key, envelope: r.envelope }, shape: r.shape });
      counts.set(r.envelope.op, (counts.get(r.envelope.op) ?? 0) + 1);
    }
    const first = decoded[0]?.message.offset;
    const offsets: StoredOffset[] = [
      { groupId: o.offsets.groupId, topic, partition, nextOffset, sourceLsn: lastLsn(decoded), ...(first !== undefined ? { expectedFrom: first } : {}) },
    ];
    const known = o.tables.known(topic);
    if (!shape && changes.length > 0) {
      // Only tombstones: the table's shape comes from what this process knows, else from
      // the topic's newest value schema.
      const latest = known ? { shape: known.target.shape, schemaId: known.schemaId } : await o.decoder.latestShape(valueSubject(topic));
      if (latest) {
        shape = latest.shape;
        schemaId = latest.schemaId;
      }
    }
    if (!shape) {
      // Nothing to apply (or a topic without any value schema): just advance the offsets.
      await o.driver.apply({ table: known?.target ?? NO_TABLE, steps: [], offsets });
      return;
    }
    // The target has the newest shape this process knows (never older than the batch's):
    // every change is written in its names (renamed columns by attnum).
    const target = await o.tables.ensure(topic, shape, schemaId);
    const newest = target.shape;
    const steps = coalesce(
      newest,
      changes.map(({ change, shape: s }) => (s ? remapChange(change, fieldMapping(s, newest)) : change)),
    );
    try {
      await o.driver.apply({ table: target, steps, offsets });
    } catch (e) {
      if (!(e instanceof MissingColumnError) || refreshed) throw e;
      // Another partition of this process renamed a column (a newer schema) after this batch
      // read the table's shape: write once more in the names the table has now.
      if (o.tables.known(topic)?.target !== target) {
        o.log.info({ topic, partition, err: e.message }, 'the target table changed while this batch was prepared (another partition evolved it): writing in its new names');
        return this.#applyDecoded(topic, partition, decoded, nextOffset, true);
      }
      // Another sink process renamed a column after this one read the table's shape: read the
      // topic's newest schema (that process had it) and write once more in its names.
      const latest = await o.decoder.latestShape(valueSubject(topic));
      if (!latest || latest.schemaId <= (o.tables.known(topic)?.schemaId ?? -1)) throw e;
      o.log.info({ topic, partition, err: e.message }, 'the target table changed under this process: re-reading the newest schema');
      await o.tables.ensure(topic, latest.shape, latest.schemaId);
      return this.#applyDecoded(topic, partition, decoded, nextOffset, true);
    }
    for (const [op, n] of counts) o.metrics.applied.inc({ table: target.name, op }, n);
  }
}

function lastLsn(decoded: readonly Decoded[]): bigint | null {
  for (let i = decoded.length - 1; i >= 0; i--) {
    const r = decoded[i]!.record;
    if (r.kind !== 'tombstone') return r.envelope.source.commit_lsn ?? r.envelope.source.lsn ?? null;
  }
  return null;
}
