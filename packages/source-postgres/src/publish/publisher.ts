import type { Kafka, Producer, Transaction, Message } from 'kafkajs';
import { ConnectionError, type Logger } from '@walrelay/core';
import { encodeCheckpoint, type SourceCheckpoint } from './checkpoint.js';

/** One Kafka record ready to send: key and value already in wire format. */
export interface OutRecord {
  readonly topic: string;
  readonly partition: number;
  /** null only for a truncate in format debezium (Debezium's null-key truncate record). */
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Record<string, string>;
}

export interface PublisherOptions {
  readonly transactionalId: string;
  readonly checkpointTopic: string;
  /** Records buffered before they are sent into the open transaction. */
  readonly sendEveryRecords: number;
  readonly sendEveryBytes: number;
  readonly transactionTimeoutMs: number;
}

export interface PublishStats {
  records: number;
  bytes: number;
  sends: number;
}

/**
 * Publishes records in Kafka transactions. Each transaction ends with the source
 * checkpoint record in the same transaction, so records and checkpoint become
 * visible to read_committed consumers together, or not at all.
 * Memory is bounded: records are sent into the open transaction every
 * `sendEveryRecords` / `sendEveryBytes`.
 */
export class TransactionalPublisher {
  readonly #kafka: Kafka;
  readonly #options: PublisherOptions;
  readonly #log: Logger;
  #producer: Producer | undefined;
  #tx: Transaction | undefined;
  #buffer: Message[] = [];
  #bufferTopics: string[] = [];
  #bufferBytes = 0;
  /** Records sent or buffered in the open transaction. */
  #inTransaction = 0;
  readonly stats: PublishStats = { records: 0, bytes: 0, sends: 0 };
  onSend: ((records: number, bytes: number, ms: number) => void) | undefined;

  constructor(kafka: Kafka, options: PublisherOptions, log: Logger) {
    this.#kafka = kafka;
    this.#options = options;
    this.#log = log;
  }

  /** Connects and initialises the transactional id: fences a predecessor and aborts its open transaction. */
  async connect(): Promise<void> {
    this.#producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      transactionalId: this.#options.transactionalId,
      transactionTimeout: this.#options.transactionTimeoutMs,
      allowAutoTopicCreation: false,
      // A transaction that begins right after a commit may get CONCURRENT_TRANSACTIONS
      // while the markers are written: retry quickly, as the Java client does.
      retry: { initialRetryTime: 20, maxRetryTime: 2_000, retries: 15 },
    });
    try {
      await this.#producer.connect();
    } catch (cause) {
      throw new ConnectionError('kafka', `could not connect the transactional producer: ${(cause as Error).message}`, { cause });
    }
  }

  get inTransaction(): number {
    return this.#inTransaction;
  }

  get pendingRecords(): number {
    return this.#inTransaction;
  }

  /** Buffers a record; returns a promise only when it sends (await it then), so the common path costs no await. */
  add(record: OutRecord): Promise<void> | undefined {
    const bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
    this.#buffer.push({
      key: record.key,
      value: record.value,
      partition: record.partition,
      ...(record.headers ? { headers: record.headers } : {}),
    });
    this.#bufferTopics.push(record.topic);
    this.#bufferBytes += bytes;
    this.#inTransaction++;
    if (this.#buffer.length >= this.#options.sendEveryRecords || this.#bufferBytes >= this.#options.sendEveryBytes) {
      return this.#send();
    }
    return undefined;
  }

  /** Sends what is buffered and the checkpoint, then commits the Kafka transaction. */
  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    this.#buffer.push({ key: Buffer.from(checkpoint.slot, 'utf8'), value: encodeCheckpoint(checkpoint), partition: 0 });
    this.#bufferTopics.push(this.#options.checkpointTopic);
    await this.#send();
    const tx = this.#tx;
    this.#tx = undefined;
    this.#inTransaction = 0;
    if (tx) await tx.commit();
  }

  /** Aborts the open transaction (nothing of it becomes visible). */
  async abort(): Promise<void> {
    this.#buffer = [];
    this.#bufferTopics = [];
    this.#bufferBytes = 0;
    this.#inTransaction = 0;
    const tx = this.#tx;
    this.#tx = undefined;
    if (tx?.isActive()) await tx.abort();
  }

  async disconnect(): Promise<void> {
    await this.#producer?.disconnect();
    this.#producer = undefined;
  }

  async #send(): Promise<void> {
    if (this.#buffer.length === 0) return;
    if (!this.#producer) throw new ConnectionError('kafka', 'publisher is not connected');
    const started = performance.now();
    if (!this.#tx) this.#tx = await this.#producer.transaction();
    // Group by topic, keeping each topic's order.
    const byTopic = new Map<string, Message[]>();
    for (let i = 0; i < this.#buffer.length; i++) {
      const topic = this.#bufferTopics[i] as string;
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(this.#buffer[i] as Message);
    }
    const records = this.#buffer.length;
    const bytes = this.#bufferBytes;
    this.#buffer = [];
    this.#bufferTopics = [];
    this.#bufferBytes = 0;
    await this.#tx.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    this.stats.records += records;
    this.stats.bytes += bytes;
    this.stats.sends++;
    this.onSend?.(records, bytes, performance.now() - started);
    this.#log.trace({ records, bytes }, 'sent into transaction');
  }
}
