import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import {
  backoffDelay,
  ConfigError,
  ConnectionError,
  createKafka,
  DecodeError,
  deadLetterTopic,
  errorMessage,
  isRetriable,
  registryClientFromConfig,
  type SchemaRegistryClient,
  tableTopic,
  tableTopicPattern,
  ValueError,
  valueSubject,
  WalrelayError,
  type Logger,
  type Registry,
  type TableShape,
} from '@walrelay/core';
import type { SinkConfig } from './config.js';
import { RecordDecoder, TRUNCATE_HEADER, type DecodedRecord } from './record-decoder.js';
import { coalesce, type TableChange } from './coalesce.js';
import { createSinkMetrics, type SinkMetrics } from './metrics.js';
import { EndToEndClock } from './end-to-end-clock.js';
import { StaleBatchError, type ApplyStep, type StoredOffset, type TargetDriver, type TargetTable } from './target.js';

export type SinkState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

type TruncateRecord = Extract<DecodedRecord, { kind: 'truncate' }>;

interface Decoded {
  readonly message: KafkaMessage;
  readonly record: DecodedRecord;
}

/**
 * The dialect-agnostic sink: consumes table topics in a consumer group and applies
 * each partition's batch in one target transaction together with its offsets row.
 * On every assignment it seeks to the offsets stored in the target and skips what
 * the target already has, so a crash at any point neither loses nor repeats a change.
 */
export class SinkRunner {
  readonly #config: SinkConfig;
  readonly #driver: TargetDriver;
  readonly #log: Logger;
  readonly #metrics: SinkMetrics;
  readonly #clock: EndToEndClock;
  readonly #sinkName: string;
  #consumer: Consumer | undefined;
  #dlqProducer: Producer | undefined;
  #registry: SchemaRegistryClient | undefined;
  #decoder: RecordDecoder | undefined;
  #state: SinkState = 'starting';
  #lastError: string | undefined;
  /** Next offset to apply per `topic\0partition`, as stored in the target. */
  readonly #applied = new Map<string, bigint>();
  /** Target table per topic, and which topic owns each target name. */
  readonly #tables = new Map<string, { target: TargetTable; schemaId: number; columns: Set<string> }>();
  readonly #owners = new Map<string, string>();
  readonly #ddl = new Map<string, Promise<void>>();
  /** Settles when the offsets stored in the target for the current assignment are loaded. */
  #assignmentLoaded: Promise<void> = Promise.resolve();
  #stopRequested = false;
  #crash: ((e: Error) => void) | undefined;
  #closers: (() => Promise<void>)[] = [];
  /** Partitions paused before a truncate marker, until every partition reached it. */
  readonly #waiting = new Map<string, { topic: string; partition: number; marker: KafkaMessage; record: TruncateRecord }>();
  /** A barrier check is running (see #pollWaiting). */
  #checking = false;

  constructor(config: SinkConfig, driver: TargetDriver, log: Logger, registry: Registry) {
    this.#config = config;
    this.#driver = driver;
    this.#log = log;
    this.#metrics = createSinkMetrics(registry);
    this.#clock = new EndToEndClock(registry);
    this.#sinkName = driver.dialect;
  }

  get state(): SinkState {
    return this.#state;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  live(): boolean {
    return this.#state !== 'failed';
  }

  /** Finish the batch in hand, commit, leave the group. */
  stop(): void {
    if (this.#stopRequested) return;
    this.#stopRequested = true;
    this.#state = 'stopping';
    this.#log.info('stopping: finishing the batch in hand');
    this.#crash?.(new StopSignal());
  }

  async run(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#runOnce();
        this.#state = 'stopped';
        return;
      } catch (e) {
        this.#lastError = errorMessage(e);
        if (this.#stopRequested || e instanceof StopSignal) {
          this.#state = 'stopped';
          return;
        }
        if (e instanceof ResubscribeSignal) {
          this.#log.info({ topics: e.topics }, 'new table topics appeared: subscribing to them');
          attempt = -1;
          continue;
        }
        if (!isRetriable(e)) {
          this.#state = 'failed';
          throw e;
        }
        const delay = backoffDelay(Math.min(attempt, 6), this.#config.retry.initialMs, this.#config.retry.maxMs);
        this.#log.warn({ err: errorMessage(e), retryInMs: delay }, 'sink failed; reconnecting and resuming from the offsets stored in the target');
        this.#state = 'starting';
        await sleep(delay);
      } finally {
        await this.#closeAll();
      }
    }
  }

  async #closeAll(): Promise<void> {
    const closers = this.#closers.reverse();
    this.#closers = [];
    for (const close of closers) await close().catch(() => undefined);
    const c = this.#consumer;
    this.#consumer = undefined;
    await c?.disconnect().catch((e: unknown) => this.#log.debug({ err: errorMessage(e) }, 'consumer disconnect failed'));
    await this.#dlqProducer?.disconnect().catch(() => undefined);
    this.#dlqProducer = undefined;
    this.#registry?.close();
    await this.#driver.close().catch(() => undefined);
  }

  async #runOnce(): Promise<void> {
    const cfg = this.#config;
    const log = this.#log;
    await this.#driver.connect();
    await this.#driver.ensureOffsetsTable();
    this.#registry = registryClientFromConfig(cfg.schemaRegistry);
    this.#decoder = new RecordDecoder(this.#registry);
    const kafka = createKafka(cfg.kafka, log, `walrelay-sink-${this.#sinkName}`);
    if (cfg.onError === 'dlq') {
      this.#dlqProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.#dlqProducer.connect();
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic: deadLetterTopic(cfg.topicPrefix, this.#sinkName), numPartitions: 1 }] });
      } finally {
        await admin.disconnect();
      }
    }
    const consumer = kafka.consumer({
      groupId: cfg.groupId,
      readUncommitted: false,
      sessionTimeout: cfg.sessionTimeoutMs,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: cfg.batch.fetchBytesPerPartition,
    });
    this.#consumer = consumer;
    const failed = new Promise<never>((_, reject) => {
      this.#crash = reject;
      consumer.on(consumer.events.CRASH, (e) => {
        const err = (e.payload as { error: Error }).error;
        reject(new ConnectionError('kafka', `consumer crashed: ${err.message}`, { cause: err, retriable: true }));
      });
    });
    failed.catch(() => undefined);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      // kafkajs does not wait for this handler: batches of the new assignment wait for it
      // instead (#eachBatch), so none is applied before the target's offsets are known.
      this.#assignmentLoaded = this.#onAssignment(consumer, assignment);
      this.#assignmentLoaded.catch((err: unknown) => this.#crash?.(err as Error));
    });
    try {
      await consumer.connect();
    } catch (e) {
      throw new ConnectionError('kafka', `brokers ${cfg.kafka.brokers.join(',')} unreachable: ${errorMessage(e)}`, { cause: e });
    }
    // kafkajs resolves a subscription once: subscribe to the topics that exist now and
    // restart the consumer when a matching topic appears (a new table).
    const admin = kafka.admin();
    await admin.connect();
    this.#closers.push(() => admin.disconnect());
    const wanted = cfg.tables.length > 0 ? new Set(this.#topicsForTables()) : undefined;
    const pattern = tableTopicPattern(cfg.topicPrefix);
    const matching = async (): Promise<string[]> =>
      (await admin.listTopics()).filter((t) => (wanted ? wanted.has(t) : pattern.test(t))).sort();
    const topics = await matching();
    const watcher = setInterval(() => {
      matching()
        .then((now) => {
          if (now.length !== topics.length || now.some((t, i) => t !== topics[i])) this.#crash?.(new ResubscribeSignal(now.filter((t) => !topics.includes(t))));
        })
        .catch((e: unknown) => this.#log.debug({ err: errorMessage(e) }, 'topic refresh failed'));
    }, cfg.topicRefreshMs);
    this.#closers.push(async () => clearInterval(watcher));
    const barrierTimer = setInterval(() => this.#pollWaiting(), 250);
    this.#closers.push(async () => {
      clearInterval(barrierTimer);
      this.#waiting.clear();
    });
    if (topics.length > 0) await consumer.subscribe({ topics, fromBeginning: cfg.fromBeginning });
    if (topics.length === 0) {
      this.#state = 'running';
      log.info({ prefix: cfg.topicPrefix }, 'no table topics yet: waiting for the source to create them');
      await failed;
      return;
    }
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: cfg.batch.partitionsConcurrently,
      eachBatch: async (payload) => {
        try {
          await this.#eachBatch(payload);
        } catch (e) {
          // kafkajs wraps what eachBatch throws in a retriable error and restarts the consumer
          // forever: a non-retriable error (onError=fail, bad configuration) must stop the sink.
          if (!isRetriable(e)) this.#crash?.(e as Error);
          throw e;
        }
      },
    });
    this.#state = 'running';
    log.info({ groupId: cfg.groupId, topics: topics.map(String) }, 'sink consuming');
    try {
      await failed;
    } catch (e) {
      if (e instanceof StopSignal || e instanceof ResubscribeSignal) {
        await consumer.stop();
        await consumer.disconnect();
        this.#consumer = undefined;
        if (e instanceof ResubscribeSignal) throw e;
        return;
      }
      throw e;
    }
  }

  #topicsForTables(): string[] {
    return this.#config.tables.map((spec) => {
      const dot = spec.indexOf('.');
      const schema = dot === -1 ? 'public' : spec.slice(0, dot);
      const table = dot === -1 ? spec : spec.slice(dot + 1);
      return tableTopic(this.#config.topicPrefix, schema, table);
    });
  }

  /** On every assignment: load the target's offsets and seek each assigned partition there. */
  async #onAssignment(consumer: Consumer, assignment: Record<string, number[]>): Promise<void> {
    const stored = await this.#driver.loadOffsets(this.#config.groupId);
    this.#applied.clear();
    this.#waiting.clear();
    // kafkajs keeps paused partitions paused across rebalances. The sink pauses only before a
    // truncate marker, and the waiting list has just been dropped, so nothing would resume
    // them: resume every paused partition; it refetches from the target's offset, reaches
    // the marker again and re-enters the barrier.
    const paused = consumer.paused();
    if (paused.length > 0) consumer.resume(paused);
    for (const o of stored) this.#applied.set(tpKey(o.topic, o.partition), o.nextOffset);
    let seeks = 0;
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const next = this.#applied.get(tpKey(topic, partition));
        if (next !== undefined) {
          consumer.seek({ topic, partition, offset: next.toString() });
          seeks++;
        }
      }
    }
    this.#log.info({ partitions: Object.values(assignment).reduce((s, p) => s + p.length, 0), seeks }, 'partitions assigned; positions taken from the target');
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const tp = tpKey(batch.topic, batch.partition);
    this.#metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
    const max = this.#config.batch.maxRecords;
    let messages = batch.messages;
    await this.#assignmentLoaded;
    const applied = this.#applied.get(tp);
    if (applied !== undefined) messages = messages.filter((m) => BigInt(m.offset) >= applied);
    if (messages.length === 0) {
      if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
      return;
    }
    let i = 0;
    while (i < messages.length) {
      if (!isRunning() || isStale()) return;
      // A truncate written to several partitions is a barrier: apply up to it, then wait
      // until every partition of the topic has reached its copy (see #truncateBarrier).
      let end = Math.min(messages.length, i + max);
      const barrier = messages.slice(i, end).findIndex((m) => barrierPartitions(m) > 1);
      if (barrier > 0) end = i + barrier;
      if (barrier !== 0) {
        const chunk = messages.slice(i, end);
        try {
          await this.#applyChunk(batch.topic, batch.partition, chunk, heartbeat);
        } catch (e) {
          if (!(e instanceof StaleBatchError)) throw e;
          // Another process owns this partition now (a rebalance this one has not seen yet):
          // drop the batch; the next assignment seeks to the target's offset.
          this.#log.warn({ topic: batch.topic, partition: batch.partition, err: e.message }, 'stale batch dropped');
          const stored = (await this.#driver.loadOffsets(this.#config.groupId)).find((o) => o.topic === batch.topic && o.partition === batch.partition);
          if (stored) {
            this.#applied.set(tp, stored.nextOffset);
            this.#consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: stored.nextOffset.toString() });
          }
          return;
        }
        resolveOffset((chunk[chunk.length - 1] as KafkaMessage).offset);
        await heartbeat();
        i = end;
        continue;
      }
      const marker = messages[i] as KafkaMessage;
      const record = await this.#decodeMarker(batch.topic, batch.partition, marker);
      const state = await this.#truncateBarrier(batch.topic, batch.partition, marker, record, true);
      if (state === 'waiting') {
        // Stop this partition before the marker; a timer resumes it once the truncate is done.
        this.#consumer?.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
        this.#waiting.set(tpKey(batch.topic, batch.partition), { topic: batch.topic, partition: batch.partition, marker, record });
        this.#log.info({ topic: batch.topic, partition: batch.partition, offset: marker.offset }, 'truncate reached in this partition: waiting for the other partitions');
        return;
      }
      // Done (by this partition or another): consume the marker.
      const next = BigInt(marker.offset) + 1n;
      await this.#withRetry(() => this.#saveOffsetOnly(batch.topic, batch.partition, next, null), heartbeat);
      this.#applied.set(tp, next);
      resolveOffset(marker.offset);
      i++;
    }
  }

  /**
   * A truncate of a table whose topic has N > 1 partitions reaches the sink as N
   * markers, one per partition, each after that partition's earlier changes. No
   * partition may apply a change written after the truncate before the truncate is
   * applied, and none of the changes before it may be applied after it.
   *
   * The state lives in the target's walrelay_offsets, in two fixed rows per partition
   * of the topic (so it works across sink processes and never accumulates):
   * - arrival row p (`__walrelay_truncate:<topic hash>`): marker offset + 1 of the last
   *   marker partition p stopped at, and that truncate's WAL position (its order);
   * - done row p (`__walrelay_truncate_done:<topic hash>`): partition p may pass every
   *   marker below this offset.
   * A partition at marker m records its arrival and stops. When every partition q is
   * stopped at a marker (arrival_q > done_q) and all are the same truncate, the last to
   * arrive truncates the table and sets done_q = arrival_q for all q in one transaction,
   * fenced on the done rows it read, so two processes deciding at once cannot truncate
   * twice. A partition passes its marker once done_p > m.
   *
   * Compaction keeps only the last marker of a partition, so a consumer behind the log
   * cleaner (or a replay) may find markers missing from some partitions: partitions then
   * stop at different truncates. Those at the oldest one are released without truncating:
   * every partition has the later truncate, which removes everything before it anyway.
   */
  async #truncateBarrier(
    topic: string,
    partition: number,
    marker: KafkaMessage,
    record: TruncateRecord,
    arrive: boolean,
    known?: readonly StoredOffset[],
  ): Promise<'waiting' | 'done'> {
    const n = barrierPartitions(marker);
    const { arrivalTopic, doneTopic } = barrierTopics(topic);
    const groupId = this.#config.groupId;
    const reached = BigInt(marker.offset) + 1n;
    const noop = async (): Promise<void> => undefined;
    const order = record.envelope.source.lsn;
    if (arrive) {
      try {
        await this.#withRetry(
          () => this.#driver.apply({ table: NO_TABLE, steps: [], offsets: [{ groupId, topic: arrivalTopic, partition, nextOffset: reached, sourceLsn: order, expectedFrom: reached }] }),
          noop,
        );
      } catch (e) {
        // A newer arrival is stored: another process owns this partition now and is past here.
        if (e instanceof StaleBatchError) return 'waiting';
        throw e;
      }
      known = undefined;
    }
    const rows = known ?? (await this.#driver.loadOffsets(groupId));
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
    const target = await this.#ensureTable(topic, record.shape, record.schemaId);
    const steps: ApplyStep[] = same && this.#config.truncate === 'apply' ? [{ kind: 'truncate' }] : [];
    const release: StoredOffset[] = releasing.map((q) => ({
      groupId,
      topic: doneTopic,
      partition: q,
      nextOffset: (arrival.get(q) as StoredOffset).nextOffset,
      sourceLsn: oldest,
      expectedFrom: done.get(q) ?? 0n,
    }));
    try {
      await this.#withRetry(() => this.#driver.apply({ table: target, steps, offsets: release }), noop);
    } catch (e) {
      // Another process released them first: re-read.
      if (e instanceof StaleBatchError) return this.#truncateBarrier(topic, partition, marker, record, false);
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
    queueMicrotask(() => this.#pollWaiting());
    return releasing.includes(partition) ? 'done' : 'waiting';
  }

  /** Decodes a truncate marker once, when its partition reaches it (the barrier polls reuse it). */
  async #decodeMarker(topic: string, partition: number, marker: KafkaMessage): Promise<TruncateRecord> {
    const record = await (this.#decoder as RecordDecoder).decode(marker.key, marker.value, marker.headers);
    if (record.kind !== 'truncate') throw new DecodeError(`record ${topic}/${partition}@${marker.offset} has a truncate header but is not a truncate`);
    return record;
  }

  /** Checks the waiting partitions (at most one check at a time); resumes those whose truncate is done. */
  #pollWaiting(): void {
    if (this.#checking || this.#waiting.size === 0) return;
    this.#checking = true;
    this.#checkWaiting()
      .catch((e: unknown) => this.#log.warn({ err: errorMessage(e) }, 'truncate barrier check failed'))
      .finally(() => (this.#checking = false));
  }

  /** Resumes paused partitions whose truncate is done (one offsets read for all of them). */
  async #checkWaiting(): Promise<void> {
    const rows = await this.#driver.loadOffsets(this.#config.groupId);
    for (const [key, w] of [...this.#waiting]) {
      const state = await this.#truncateBarrier(w.topic, w.partition, w.marker, w.record, false, rows);
      if (state === 'done' && this.#waiting.get(key) === w) {
        this.#waiting.delete(key);
        this.#consumer?.resume([{ topic: w.topic, partitions: [w.partition] }]);
      }
    }
  }

  async #saveOffsetOnly(topic: string, partition: number, nextOffset: bigint, sourceLsn: bigint | null): Promise<void> {
    const known = this.#tables.get(topic);
    await this.#driver.apply({
      table: known?.target ?? NO_TABLE,
      steps: [],
      offsets: [{ groupId: this.#config.groupId, topic, partition, nextOffset, sourceLsn }],
    });
  }

  async #applyChunk(topic: string, partition: number, chunk: readonly KafkaMessage[], heartbeat: () => Promise<void>): Promise<void> {
    const decoded: Decoded[] = [];
    for (const message of chunk) {
      try {
        const record = await (this.#decoder as RecordDecoder).decode(message.key, message.value, message.headers);
        decoded.push({ message, record });
      } catch (e) {
        if (isRetriable(e)) throw e;
        await this.#deadLetter(topic, partition, message, e, 'decode');
      }
    }
    const last = chunk[chunk.length - 1] as KafkaMessage;
    const nextOffset = BigInt(last.offset) + 1n;
    const started = performance.now();
    try {
      await this.#withRetry(() => this.#applyDecoded(topic, partition, decoded, nextOffset), heartbeat);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      // A value the target refuses: apply record by record to isolate it.
      this.#log.warn({ topic, partition, err: e.message }, 'batch refused by the target; isolating the bad record');
      for (const d of decoded) {
        const off = BigInt(d.message.offset) + 1n;
        try {
          await this.#withRetry(() => this.#applyDecoded(topic, partition, [d], off), heartbeat);
        } catch (inner) {
          if (!(inner instanceof ValueError)) throw inner;
          await this.#deadLetter(topic, partition, d.message, inner, 'apply');
          await this.#withRetry(() => this.#applyDecoded(topic, partition, [], off), heartbeat);
        }
      }
      await this.#withRetry(() => this.#applyDecoded(topic, partition, [], nextOffset), heartbeat);
    }
    this.#metrics.applyLatency.observe((performance.now() - started) / 1000);
    this.#metrics.batchSize.observe(chunk.length);
    this.#applied.set(tpKey(topic, partition), nextOffset);
    const lsn = lastLsn(decoded);
    // The target is committed: commit the Kafka offset too (lag tools), with the LSN alongside.
    await this.#consumer
      ?.commitOffsets([{ topic, partition, offset: nextOffset.toString(), metadata: JSON.stringify({ lsn: lsn?.toString() ?? null }) } as never])
      .catch((e: unknown) => this.#log.warn({ err: errorMessage(e) }, 'Kafka offset commit failed (the target holds the authoritative position)'));
    const now = Date.now();
    for (const d of decoded) {
      if (d.record.kind === 'tombstone') continue;
      const ts = d.record.envelope.source.ts_ms;
      if (d.record.envelope.source.snapshot !== 'true' && ts > 0n) this.#metrics.endToEnd.observe(Math.max(0, now - Number(ts)) / 1000);
      this.#clock.applied(d.record.envelope.source);
    }
  }

  async #applyDecoded(topic: string, partition: number, decoded: readonly Decoded[], nextOffset: bigint): Promise<void> {
    const changes: TableChange[] = [];
    let shape: TableShape | undefined;
    let schemaId = -1;
    const counts = new Map<string, number>();
    for (const d of decoded) {
      const r = d.record;
      if (r.kind === 'tombstone') {
        // Normally redundant (a delete record precedes it), but a consumer that lags behind
        // the log cleaner may find only the tombstone: it deletes the row either way.
        if (r.key) changes.push({ kind: 'delete', key: r.key });
        continue;
      }
      if (r.schemaId >= schemaId) {
        shape = r.shape;
        schemaId = r.schemaId;
      }
      if (r.kind === 'truncate') {
        if (this.#config.truncate === 'apply') changes.push({ kind: 'truncate' });
        counts.set('t', (counts.get('t') ?? 0) + 1);
        continue;
      }
      changes.push({ kind: 'change', key: r.key, envelope: r.envelope });
      counts.set(r.envelope.op, (counts.get(r.envelope.op) ?? 0) + 1);
    }
    const first = decoded[0]?.message.offset;
    const offsets: StoredOffset[] = [
      {
        groupId: this.#config.groupId,
        topic,
        partition,
        nextOffset,
        sourceLsn: lastLsn(decoded),
        ...(first !== undefined ? { expectedFrom: BigInt(first) } : {}),
      },
    ];
    const known = this.#tables.get(topic);
    if (!shape && changes.length > 0) {
      // Only tombstones: the table's shape comes from what this process knows, else from
      // the topic's newest value schema.
      const latest = known ? { shape: known.target.shape, schemaId: known.schemaId } : await (this.#decoder as RecordDecoder).latestShape(valueSubject(topic));
      if (latest) {
        shape = latest.shape;
        schemaId = latest.schemaId;
      }
    }
    if (!shape) {
      // Nothing to apply (or a topic without any value schema): just advance the offsets.
      await this.#driver.apply({ table: known?.target ?? NO_TABLE, steps: [], offsets });
      return;
    }
    const target = await this.#ensureTable(topic, shape, schemaId);
    const steps = coalesce(shape, changes);
    await this.#driver.apply({ table: target, steps, offsets });
    for (const [op, n] of counts) this.#metrics.applied.inc({ table: target.name, op }, n);
  }

  /** DDL of one table runs one at a time in this process (partitions apply concurrently). */
  #ensureTable(topic: string, shape: TableShape, schemaId: number): Promise<TargetTable> {
    const known = this.#tables.get(topic);
    if (known && known.schemaId >= schemaId) return Promise.resolve(known.target);
    const previous = this.#ddl.get(topic) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#ensureTableNow(topic, shape, schemaId));
    this.#ddl.set(topic, next.then(() => undefined, () => undefined));
    return next;
  }

  async #ensureTableNow(topic: string, shape: TableShape, schemaId: number): Promise<TargetTable> {
    const known = this.#tables.get(topic);
    if (known && known.schemaId >= schemaId) return known.target;
    const sourceName = `${shape.schema}.${shape.table}`;
    const name = this.#config.tableNames[sourceName] ?? shape.table;
    const owner = this.#owners.get(name);
    if (owner !== undefined && owner !== topic) {
      throw new ConfigError(`source tables of topics ${owner} and ${topic} both map to target table ${name}: name one of them in tableNames`);
    }
    this.#owners.set(name, topic);
    const target: TargetTable = { name, shape };
    let existing = await this.#driver.existingColumns(name);
    if (existing === null) {
      try {
        await this.#driver.createTable(target);
      } catch (e) {
        // Another sink process may have created it first.
        existing = await this.#driver.existingColumns(name);
        if (existing === null) throw e;
      }
    }
    if (existing === null) {
      this.#log.info({ table: name, source: sourceName }, 'created target table');
      if (this.#driver.extraUniqueIndexes) {
        const extra = await this.#driver.extraUniqueIndexes(name);
        if (extra.length > 0) this.#log.warn({ table: name, indexes: extra }, 'target table has unique indexes besides the primary key: upserts may match them');
      }
    } else {
      const have = new Set(existing);
      const missing = shape.columns.filter((c) => !have.has(c.name));
      if (missing.length > 0) {
        try {
          await this.#driver.addColumns(target, missing);
          this.#log.info({ table: name, columns: missing.map((c) => c.name) }, 'added columns the schema gained');
        } catch (e) {
          // Another sink process may have added them first.
          const now = new Set((await this.#driver.existingColumns(name)) ?? []);
          if (missing.some((c) => !now.has(c.name))) throw e;
        }
      }
      if (!known && this.#driver.extraUniqueIndexes) {
        const extra = await this.#driver.extraUniqueIndexes(name);
        if (extra.length > 0) this.#log.warn({ table: name, indexes: extra }, 'target table has unique indexes besides the primary key: upserts may match them');
      }
    }
    this.#tables.set(topic, { target, schemaId, columns: new Set(shape.columns.map((c) => c.name)) });
    return target;
  }

  async #withRetry(fn: () => Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (e) {
        if (!isRetriable(e) || this.#stopRequested) throw e;
        if (attempt >= 8) throw e;
        const delay = backoffDelay(attempt, this.#config.retry.initialMs, this.#config.retry.maxMs);
        this.#metrics.retries.inc();
        this.#log.warn({ err: errorMessage(e), attempt: attempt + 1, retryInMs: delay }, 'target apply failed, retrying the batch');
        await sleep(delay);
        await heartbeat().catch(() => undefined);
      }
    }
  }

  async #deadLetter(topic: string, partition: number, message: KafkaMessage, error: unknown, stage: 'decode' | 'apply'): Promise<void> {
    const reason = errorMessage(error);
    this.#metrics.deadLetters.inc({ topic, stage });
    if (this.#config.onError === 'fail' || !this.#dlqProducer) {
      throw new WalrelayError(
        error instanceof WalrelayError ? error.code : 'DECODE',
        `record ${topic}/${partition}@${message.offset} could not be ${stage === 'decode' ? 'decoded' : 'applied'}: ${reason} (onError=fail; set onError: dlq to send such records to ${deadLetterTopic(this.#config.topicPrefix, this.#sinkName)})`,
        { cause: error },
      );
    }
    await this.#dlqProducer.send({
      topic: deadLetterTopic(this.#config.topicPrefix, this.#sinkName),
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            'walrelay.error': reason.slice(0, 4000),
            'walrelay.error.code': error instanceof WalrelayError ? error.code : 'UNKNOWN',
            'walrelay.error.stage': stage,
            'walrelay.topic': topic,
            'walrelay.partition': String(partition),
            'walrelay.offset': message.offset,
            'walrelay.sink': this.#sinkName,
          },
        },
      ],
    });
    this.#log.error({ topic, partition, offset: message.offset, stage, err: reason }, 'record sent to the dead-letter topic');
  }
}

class StopSignal extends Error {
  constructor() {
    super('stop requested');
  }
}

class ResubscribeSignal extends Error {
  readonly topics: string[];
  constructor(topics: string[]) {
    super('new topics to subscribe to');
    this.topics = topics;
  }
}

function header(m: KafkaMessage, name: string): string | undefined {
  const v = m.headers?.[name];
  if (v === undefined || v === null) return undefined;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/** The two walrelay_offsets row names of a topic's truncate barrier (see #truncateBarrier). */
function barrierTopics(topic: string): { arrivalTopic: string; doneTopic: string } {
  const hash = createHash('sha1').update(topic).digest('hex').slice(0, 16);
  return { arrivalTopic: `__walrelay_truncate:${hash}`, doneTopic: `__walrelay_truncate_done:${hash}` };
}

/** Stands for "no table" in an apply that only writes offsets rows. */
const NO_TABLE: TargetTable = { name: '', shape: { schema: '', table: '', columns: [] } };

/** Partitions a truncate marker was written to (0 when the record is not a marker). */
function barrierPartitions(m: KafkaMessage): number {
  const v = header(m, TRUNCATE_HEADER);
  return v === undefined ? 0 : Number(v) || 0;
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function lastLsn(decoded: readonly Decoded[]): bigint | null {
  for (let i = decoded.length - 1; i >= 0; i--) {
    const r = decoded[i]!.record;
    if (r.kind !== 'tombstone') return r.envelope.source.commit_lsn ?? r.envelope.source.lsn ?? null;
  }
  return null;
}
