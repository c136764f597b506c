import type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, Producer } from 'kafkajs';
import { ConnectionError, errorMessage, isRetriable, type Logger } from '@walrelay/core';
import type { SinkConfig } from '../config.js';
import type { BatchControl, DeadLetterRecord, DeadLetterWriter, RecordSource, SourceBatch, SourceHandlers, SourceRecord } from './record-source.js';
import { TopicsChanged } from './restart-policy.js';

/**
 * The consumer loop: the only part of the sink that knows kafkajs. It adapts a kafkajs
 * consumer (group membership, fetch, seek, pause, commit) to RecordSource, watches for
 * new table topics (kafkajs resolves a subscription once, so a new matching topic restarts
 * the consumer through TopicsChanged), and writes dead letters with an idempotent producer.
 */
export class KafkaRecordSource implements RecordSource {
  readonly #kafka: Kafka;
  readonly #config: SinkConfig;
  readonly #log: Logger;
  readonly #select: (topic: string) => boolean;
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;
  #watcher: NodeJS.Timeout | undefined;

  constructor(kafka: Kafka, config: SinkConfig, log: Logger, select: (topic: string) => boolean) {
    this.#kafka = kafka;
    this.#config = config;
    this.#log = log;
    this.#select = select;
  }

  async start(handlers: SourceHandlers): Promise<readonly string[]> {
    const cfg = this.#config;
    const consumer = this.#kafka.consumer({
      groupId: cfg.groupId,
      readUncommitted: false,
      sessionTimeout: cfg.sessionTimeoutMs,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: cfg.batch.fetchBytesPerPartition,
      // A fetch returns as soon as a record is there; this bounds only an idle fetch, which
      // stop() waits for: kafkajs' 5 s default outlasted the 4 s shutdown deadline (Java's is 500 ms).
      maxWaitTimeInMs: 500,
      // kafkajs restarts a crashed consumer by itself (a timer set after its CRASH event): one
      // restarted after this source was closed lived on as a second member of the group, kept
      // it rebalancing and handed its assignments to the next session (found by the full fault
      // run). The sink runtime restarts sessions itself (RestartPolicy), so kafkajs never does.
      retry: { restartOnFailure: async () => false },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      const err = (e.payload as { error: Error }).error;
      handlers.failed(new ConnectionError('kafka', `consumer crashed: ${err.message}`, { cause: err, retriable: true }));
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      handlers.assigned(new Map(Object.entries(assignment)));
    });
    try {
      await consumer.connect();
    } catch (e) {
      throw new ConnectionError('kafka', `brokers ${cfg.kafka.brokers.join(',')} unreachable: ${errorMessage(e)}`, { cause: e });
    }
    const admin = this.#kafka.admin();
    this.#admin = admin;
    await admin.connect();
    const matching = async (): Promise<string[]> => (await admin.listTopics()).filter(this.#select).sort();
    const topics = await matching();
    this.#watcher = setInterval(() => {
      matching()
        .then((now) => {
          if (now.length !== topics.length || now.some((t, i) => t !== topics[i])) handlers.failed(new TopicsChanged(now.filter((t) => !topics.includes(t))));
        })
        .catch((e: unknown) => this.#log.debug({ err: errorMessage(e) }, 'topic refresh failed'));
    }, cfg.topicRefreshMs);
    if (topics.length === 0) return topics;
    await consumer.subscribe({ topics, fromBeginning: cfg.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: cfg.batch.partitionsConcurrently,
      eachBatch: async (payload) => {
        try {
          await handlers.batch(sourceBatch(payload), batchControl(payload));
        } catch (e) {
          // kafkajs wraps what eachBatch throws in a retriable error and restarts the consumer
          // forever: a non-retriable error (onError=fail, bad configuration) must stop the sink.
          if (!isRetriable(e)) handlers.failed(e as Error);
          throw e;
        }
      },
    });
    return topics;
  }

  async stop(): Promise<void> {
    const c = this.#consumer;
    if (!c) return;
    await c.stop();
    await c.disconnect();
    this.#consumer = undefined;
  }

  #require(): Consumer {
    if (!this.#consumer) throw new ConnectionError('kafka', 'consumer not started', { retriable: true });
    return this.#consumer;
  }

  pause(topic: string, partition: number): void {
    this.#consumer?.pause([{ topic, partitions: [partition] }]);
  }

  resume(topic: string, partition: number): void {
    this.#consumer?.resume([{ topic, partitions: [partition] }]);
  }

  resumeAll(): void {
    const paused = this.#consumer?.paused() ?? [];
    if (paused.length > 0) this.#consumer?.resume(paused);
  }

  seek(topic: string, partition: number, offset: bigint): void {
    this.#require().seek({ topic, partition, offset: offset.toString() });
  }

  async commit(topic: string, partition: number, nextOffset: bigint, metadata: string): Promise<void> {
    // kafkajs passes metadata through; its TypeScript type lacks the field.
    await this.#consumer?.commitOffsets([{ topic, partition, offset: nextOffset.toString(), metadata } as never]);
  }

  async partitionCount(topic: string): Promise<number> {
    const admin = this.#admin;
    if (!admin) throw new ConnectionError('kafka', `cannot read the partitions of ${topic}: the sink's Kafka admin client is not connected`);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.length ?? 0;
  }

  async close(): Promise<void> {
    if (this.#watcher) clearInterval(this.#watcher);
    this.#watcher = undefined;
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.disconnect().catch(() => undefined);
    const c = this.#consumer;
    this.#consumer = undefined;
    await c?.disconnect().catch((e: unknown) => this.#log.debug({ err: errorMessage(e) }, 'consumer disconnect failed'));
  }
}

/** Most records carry no header: they share one empty, frozen object. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function headerText(headers: IHeaders | undefined): Readonly<Record<string, string>> {
  let any = false;
  for (const _ in headers) {
    any = true;
    break;
  }
  if (!any || !headers) return NO_HEADERS;
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(headers)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first === undefined || first === null) continue;
    out[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

function sourceBatch(payload: EachBatchPayload): SourceBatch {
  const { batch } = payload;
  const records: SourceRecord[] = batch.messages.map((m) => ({ offset: BigInt(m.offset), key: m.key, value: m.value, headers: headerText(m.headers) }));
  return {
    topic: batch.topic,
    partition: batch.partition,
    records,
    // kafkajs' last offset also covers transaction control records after the last message.
    lastOffset: records.length > 0 ? BigInt(batch.lastOffset()) : -1n,
    lag: Number(batch.offsetLag()),
  };
}

function batchControl(payload: EachBatchPayload): BatchControl {
  return {
    active: () => payload.isRunning() && !payload.isStale(),
    heartbeat: () => payload.heartbeat(),
    resolve: (offset) => payload.resolveOffset(offset.toString()),
  };
}

/** The dead-letter producer: idempotent, acks=all, the topic created (1 partition) if missing. */
export async function kafkaDeadLetterWriter(kafka: Kafka, topic: string): Promise<DeadLetterWriter> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  } finally {
    await admin.disconnect();
  }
  return {
    send: async (record: DeadLetterRecord) => {
      await producer.send({ topic, acks: -1, messages: [{ key: record.key, value: record.value, headers: { ...record.headers } }] });
    },
    close: () => producer.disconnect().catch(() => undefined),
  };
}
