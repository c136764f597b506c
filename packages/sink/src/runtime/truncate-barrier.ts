import { barrierTopics, DecodeError, errorMessage, TRUNCATE_HEADER, type Logger } from '@walrelay/core';
import type { SinkMetrics } from '../metrics.js';
import type { DecodedRecord } from '../record-decoder.js';
import { StaleBatchError, type ApplyStep, type StoredOffset, type TargetDriver } from '../target.js';
import { NO_TABLE, partitionKey, type OffsetsStore } from './offsets-store.js';
import type { RecordSource, SourceRecord } from './record-source.js';
import type { TargetTables } from './table-ddl.js';

export type TruncateRecord = Extract<DecodedRecord, { kind: 'truncate' }>;

/** The two walrelay_offsets row names of a topic's truncate barrier: defined once in core's wire contract. */
export { barrierTopics };

/** Partitions a truncate marker was written to (0 when the record is not a marker). */
export function barrierPartitions(record: SourceRecord): number {
  const v = record.headers[TRUNCATE_HEADER];
  return v === undefined ? 0 : Number(v) || 0;
}

interface Waiting {
  readonly topic: string;
  readonly partition: number;
  readonly marker: SourceRecord;
  readonly record: TruncateRecord;
}

/**
 * A truncate of a table whose topic has N > 1 partitions reaches the sink as N markers,
 * one per partition, each after that partition's earlier changes. No partition may apply
 * a change written after the truncate before the truncate is applied, and none of the
 * changes before it may be applied after it.
 *
 * The state lives in the target's walrelay_offsets, in two fixed rows per partition of
 * the topic (so it works across sink processes and never accumulates):
 * - arrival row p (`__walrelay_truncate:<topic hash>`): marker offset + 1 of the last
 *   marker partition p stopped at, and that truncate's WAL position (its order);
 * - done row p (`__walrelay_truncate_done:<topic hash>`): p may pass every marker below this offset.
 * A partition at marker m records its arrival and stops. When every partition q is stopped
 * at a marker (arrival_q > done_q) and all are the same truncate, the last to arrive
 * truncates the table and sets done_q = arrival_q for all q in one transaction, fenced on
 * the done rows it read, so two processes deciding at once cannot truncate twice. A
 * partition passes its marker once done_p > m.
 *
 * Compaction keeps only the last marker of a partition, so a consumer behind the log
 * cleaner (or a replay) may find markers missing from some partitions: partitions then stop
 * at different truncates. Those at the oldest one are released without truncating: every
 * partition has the later truncate, which removes everything before it anyway.
 */
export class TruncateBarrier {
  readonly #driver: TargetDriver;
  readonly #offsets: OffsetsStore;
  readonly #tables: TargetTables;
  readonly #apply: (fn: () => Promise<void>) => Promise<void>;
  readonly #truncate: 'apply' | 'ignore';
  readonly #metrics: SinkMetrics;
  readonly #log: Logger;
  /** Partitions paused before a marker, until every partition reached it. */
  readonly #waiting = new Map<string, Waiting>();
  #checking = false;
  #source: RecordSource | undefined;

  constructor(options: {
    readonly driver: TargetDriver;
    readonly offsets: OffsetsStore;
    readonly tables: TargetTables;
    /** Runs one target transaction with the retry policy. */
    readonly apply: (fn: () => Promise<void>) => Promise<void>;
    readonly truncate: 'apply' | 'ignore';
    readonly metrics: SinkMetrics;
    readonly log: Logger;
  }) {
    this.#driver = options.driver;
    this.#offsets = options.offsets;
    this.#tables = options.tables;
    this.#apply = options.apply;
    this.#truncate = options.truncate;
    this.#metrics = options.metrics;
    this.#log = options.log;
  }

  /** The source whose partitions this barrier pauses and resumes (set per session). */
  attach(source: RecordSource | undefined): void {
    this.#source = source;
    this.#waiting.clear();
  }

  /**
   * A new assignment: forget the waiting partitions and resume every paused one (the source
   * keeps paused partitions paused across rebalances); each refetches from the target's
   * offset, reaches its marker again and re-enters the barrier.
   */
  reset(): void {
    this.#waiting.clear();
    this.#source?.resumeAll();
  }

  /** Partitions currently stopped at a marker. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * A partition reached `marker`. 'done': the truncate is applied (by this partition or
   * another): the marker may be consumed. 'waiting': the partition is paused until it is.
   */
  async reach(topic: string, partition: number, marker: SourceRecord, record: TruncateRecord): Promise<'waiting' | 'done'> {
    const state = await this.#decide(topic, partition, marker, record, true);
    if (state === 'waiting') {
      this.#source?.pause(topic, partition);
      this.#waiting.set(partitionKey(topic, partition), { topic, partition, marker, record });
      this.#log.info({ topic, partition, offset: marker.offset.toString() }, 'truncate reached in this partition: waiting for the other partitions');
    }
    return state;
  }

  /** Checks the waiting partitions (at most one check at a time); resumes those whose truncate is done. */
  poll(): void {
    if (this.#checking || this.#waiting.size === 0) return;
    this.#checking = true;
    this.check()
      .catch((e: unknown) => this.#log.warn({ err: errorMessage(e) }, 'truncate barrier check failed'))
      .finally(() => (this.#checking = false));
  }

  /** One offsets read for every waiting partition; resumes those whose truncate is done. */
  async check(): Promise<void> {
    const rows = await this.#offsets.load();
    for (const [key, w] of [...this.#waiting]) {
      const state = await this.#decide(w.topic, w.partition, w.marker, w.record, false, rows);
      if (state === 'done' && this.#waiting.get(key) === w) {
        this.#waiting.delete(key);
        this.#source?.resume(w.topic, w.partition);
      }
    }
  }

  async #decide(topic: string, partition: number, marker: SourceRecord, record: TruncateRecord, arrive: boolean, known?: readonly StoredOffset[]): Promise<'waiting' | 'done'> {
    const n = barrierPartitions(marker);
    const { arrivalTopic, doneTopic } = barrierTopics(topic);
    const groupId = this.#offsets.groupId;
    const reached = marker.offset + 1n;
    const order = record.envelope.source.lsn;
    if (arrive) {
      try {
        await this.#apply(() =>
          this.#driver.apply({ table: NO_TABLE, steps: [], offsets: [{ groupId, topic: arrivalTopic, partition, nextOffset: reached, sourceLsn: order, expectedFrom: reached }] }),
        );
      } catch (e) {
        // A newer arrival is stored: another process owns this partition now and is past here.
        if (e instanceof StaleBatchError) return 'waiting';
        throw e;
      }
      known = undefined;
    }
    const rows = known ?? (await this.#offsets.load());
    const arrival = new Map<number, StoredOffset>();
    const done = new Map<number, bigint>();
    for (const o of rows) {
      if (o.topic === arrivalTopic) arrival.set(o.partition, o);
      else if (o.topic === doneTopic) done.set(o.partition, o.nextOffset);
    }
    if ((done.get(partition) ?? 0n) >= reached) return 'done';
    const stoppedAt: bigint[] = [];
    for (let q = 0; q < n; q++) {
      const a = arrival.get(q);
      if (!a || a.nextOffset <= (done.get(q) ?? 0n)) return 'waiting';
      stoppedAt.push(a.sourceLsn ?? 0n);
    }
    // Every partition is stopped at a truncate.
    const oldest = stoppedAt.reduce((m, x) => (x < m ? x : m));
    const same = stoppedAt.every((x) => x === oldest);
    const releasing = [...Array(n).keys()].filter((q) => stoppedAt[q] === oldest);
    const target = await this.#tables.ensure(topic, record.shape, record.schemaId);
    const steps: ApplyStep[] = same && this.#truncate === 'apply' ? [{ kind: 'truncate' }] : [];
    const release: StoredOffset[] = releasing.map((q) => ({
      groupId,
      topic: doneTopic,
      partition: q,
      nextOffset: (arrival.get(q) as StoredOffset).nextOffset,
      sourceLsn: oldest,
      expectedFrom: done.get(q) ?? 0n,
    }));
    try {
      await this.#apply(() => this.#driver.apply({ table: target, steps, offsets: release }));
    } catch (e) {
      // Another process released them first: re-read.
      if (e instanceof StaleBatchError) return this.#decide(topic, partition, marker, record, false);
      throw e;
    }
    if (same) {
      this.#metrics.applied.inc({ table: target.name, op: 't' });
      this.#log.info({ table: target.name, partitions: n }, 'every partition reached the truncate: table truncated');
    } else {
      this.#log.warn(
        { table: target.name, released: releasing, truncateLsn: oldest.toString() },
        'partitions stopped at different truncates (markers compacted away): the oldest is passed without truncating, a later one on every partition supersedes it',
      );
    }
    // Release this process's own waiting partitions now rather than on the next poll.
    queueMicrotask(() => this.poll());
    return releasing.includes(partition) ? 'done' : 'waiting';
  }
}

/** Decodes a truncate marker once, when its partition reaches it (the barrier's polls reuse it). */
export function asTruncate(topic: string, partition: number, marker: SourceRecord, record: DecodedRecord): TruncateRecord {
  if (record.kind !== 'truncate') throw new DecodeError(`record ${topic}/${partition}@${marker.offset} has a truncate header but is not a truncate`);
  return record;
}
