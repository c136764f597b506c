import type { Kafka, Producer, Transaction, Message } from 'kafkajs';
import { ConnectionError, errorMessage, WalrelayError, type Logger } from '@walrelay/core';
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
  /** kafkajs' compression type of the record batches (core's kafkaCompressionType; 0: none). */
  readonly compression?: number;
}

/** The size limit of a topic's record batches (its `max.message.bytes`). */
export interface TopicLimits {
  maxMessageBytes(topic: string): Promise<number>;
  /** The limit if it was read already (no await), else undefined. */
  knownMaxMessageBytes(topic: string): number | undefined;
}

/** Names a record for an error: its table and key, e.g. `public.docs key {"id":7}`. */
export type RecordDescriber = (topic: string, key: Buffer, value: Buffer | null) => Promise<string>;

/** Kafka's fixed overhead of a record batch (v2 header), and a bound on one record's own overhead. */
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 25;

function recordBytes(m: Message): number {
  let n = RECORD_OVERHEAD + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  if (m.headers) for (const [k, v] of Object.entries(m.headers)) n += 10 + Buffer.byteLength(k) + (Buffer.isBuffer(v) ? v.length : Buffer.byteLength(String(v ?? '')));
  return n;
}

/**
 * A record larger than its topic accepts. Retriable: the source stops at it (never skips
 * it) and tries again with backoff, so raising the topic's `max.message.bytes` lets it pass
 * without a restart.
 */
export class RecordTooLargeError extends WalrelayError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super('RECORD_TOO_LARGE', message, { retriable: true, details, cause });
  }
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
  /** The produce request in flight (at most one: the next batch fills meanwhile); it never rejects. */
  #inFlight: Promise<void> | undefined;
  /** Why the request in flight failed, until a caller of add/commit is told. */
  #sendFailure: { error: unknown } | undefined;
  readonly stats: PublishStats = { records: 0, bytes: 0, sends: 0 };
  onSend: ((records: number, bytes: number, ms: number) => void) | undefined;
  /** How long a caller waited: to hand over a batch (the request in flight), or in a commit. */
  onWait: ((on: 'produce' | 'commit', ms: number) => void) | undefined;
  /** Each topic's batch size limit: records above it are refused with a clear error, batches are split below it. */
  topicLimits: TopicLimits | undefined;
  /** Names a refused record (table and key) in the error. */
  describeRecord: RecordDescriber | undefined;

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

  /**
   * True when `record` is known to fit its topic's batch limit on its own (the limit was read
   * before), so the common path costs no await; false means: ask `refusal`.
   */
  fitsAlone(record: OutRecord): boolean {
    if (!this.topicLimits) return true;
    const limit = this.topicLimits.knownMaxMessageBytes(record.topic);
    return limit !== undefined && BATCH_OVERHEAD + recordBytes(record) <= limit;
  }

  /**
   * The error naming `record` when its topic cannot take it even alone (above the topic's
   * `max.message.bytes`), else undefined. The stream asks before adding a change's records,
   * so it can commit what precedes the refused record and stop exactly at it.
   */
  async refusal(record: OutRecord): Promise<RecordTooLargeError | undefined> {
    if (!this.topicLimits) return undefined;
    const limit = await this.topicLimits.maxMessageBytes(record.topic);
    const size = recordBytes(record);
    // The refusal restarts the pipeline, whose new TopicManager reads the limit again: raising it lets the record pass.
    return BATCH_OVERHEAD + size <= limit ? undefined : this.#tooLarge(record.topic, record, size, limit);
  }

  /**
   * Buffers a record; returns a promise only when the buffer is due to be sent (await it then),
   * so the common path costs no await. The promise resolves once the previous produce request
   * has completed and this batch's has started: the stream decodes and encodes the next batch
   * while the broker handles this one (one request in flight, in order; a failure of a request
   * is thrown by the next add that sends, or by commit).
   */
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
      return this.#dispatch();
    }
    return undefined;
  }

  /** Waits for the request in flight, then starts sending the buffer without waiting for it. */
  async #dispatch(): Promise<void> {
    const started = performance.now();
    await this.#settle();
    this.onWait?.('produce', performance.now() - started);
    const sending = this.#send();
    const inFlight = sending.then(
      () => undefined,
      (error: unknown) => {
        this.#sendFailure = { error };
      },
    );
    this.#inFlight = inFlight;
  }

  /** Waits until no request is in flight; throws the error of the one that was, if it failed. */
  async #settle(): Promise<void> {
    const inFlight = this.#inFlight;
    if (inFlight) {
      await inFlight;
      if (this.#inFlight === inFlight) this.#inFlight = undefined;
    }
    const failure = this.#sendFailure;
    if (failure) {
      this.#sendFailure = undefined;
      throw failure.error;
    }
  }

  /** Waits for the request in flight and forgets how it ended (its transaction is being given up). */
  async #quiesce(): Promise<void> {
    await this.#inFlight;
    this.#inFlight = undefined;
    this.#sendFailure = undefined;
  }

  /** Sends what is buffered and the checkpoint, then commits the Kafka transaction. */
  async commit(checkpoint: SourceCheckpoint): Promise<void> {
    const started = performance.now();
    try {
      await this.#settle();
      this.#buffer.push({ key: Buffer.from(checkpoint.slot, 'utf8'), value: encodeCheckpoint(checkpoint), partition: 0 });
      this.#bufferTopics.push(this.#options.checkpointTopic);
      await this.#send();
      const tx = this.#tx;
      this.#tx = undefined;
      this.#inTransaction = 0;
      if (tx) await tx.commit();
    } finally {
      this.onWait?.('commit', performance.now() - started);
    }
  }

  /** Aborts the open transaction (nothing of it becomes visible). */
  async abort(): Promise<void> {
    // The request in flight belongs to the transaction being aborted: let it finish (or fail) first.
    await this.#quiesce();
    this.#buffer = [];
    this.#bufferTopics = [];
    this.#bufferBytes = 0;
    this.#inTransaction = 0;
    const tx = this.#tx;
    this.#tx = undefined;
    if (tx?.isActive()) await tx.abort();
  }

  async disconnect(): Promise<void> {
    await this.#quiesce();
    await this.#producer?.disconnect();
    this.#producer = undefined;
  }

  /**
   * Splits what is buffered into produce requests whose batch for each partition stays
   * within the topic's limit (kafkajs sends one batch per partition per request, and the
   * broker refuses a batch above `max.message.bytes`). Keeps each partition's order. A record
   * above the limit on its own is a RecordTooLargeError naming it.
   */
  async #requests(byTopic: Map<string, Message[]>): Promise<Map<string, Message[]>[]> {
    if (!this.topicLimits) return [byTopic];
    const out: Map<string, Message[]>[] = [];
    let current = new Map<string, Message[]>();
    /** Bytes of each partition's batch in the current request, per topic (indexed by partition). */
    let sizes = new Map<string, number[]>();
    for (const [topic, messages] of byTopic) {
      const limit = await this.topicLimits.maxMessageBytes(topic);
      for (const m of messages) {
        const size = recordBytes(m);
        if (BATCH_OVERHEAD + size > limit) throw await this.#tooLarge(topic, m, size, limit);
        const partition = m.partition ?? 0;
        let used = sizes.get(topic)?.[partition] ?? BATCH_OVERHEAD;
        if (used + size > limit) {
          out.push(current);
          current = new Map();
          sizes = new Map();
          used = BATCH_OVERHEAD;
        }
        let topicSizes = sizes.get(topic);
        if (!topicSizes) sizes.set(topic, (topicSizes = []));
        topicSizes[partition] = used + size;
        let list = current.get(topic);
        if (!list) current.set(topic, (list = []));
        list.push(m);
      }
    }
    if (current.size > 0) out.push(current);
    return out;
  }

  async #tooLarge(topic: string, m: Message, size: number, limit: number, cause?: unknown): Promise<RecordTooLargeError> {
    const value = m.value === null || m.value === undefined ? null : Buffer.isBuffer(m.value) ? m.value : Buffer.from(m.value);
    const key = Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key ?? '');
    let record = `a record of topic ${topic}`;
    if (this.describeRecord) record = await this.describeRecord(topic, key, value).catch((e: unknown) => `${record} (not decodable: ${errorMessage(e)})`);
    return new RecordTooLargeError(
      `${record} is ${size} bytes, larger than topic ${topic} accepts (max.message.bytes = ${limit}): the source stops here and retries, it never skips a change. ` +
        `Raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics --entity-name ${topic} --add-config max.message.bytes=<bytes>; ` +
        `for topics the source creates, set topics.config: {"max.message.bytes": "<bytes>"}), and the broker's replica.fetch.max.bytes / consumers' fetch sizes with it`,
      { topic, partition: m.partition, size, limit },
      cause,
    );
  }

  /** The broker refused a request for its size after all (e.g. a broker limit below the topic's): name the largest record. */
  async #explain(e: unknown, request: Map<string, Message[]>): Promise<unknown> {
    const type = (e as { type?: unknown }).type;
    if (type !== 'MESSAGE_TOO_LARGE' && type !== 'RECORD_LIST_TOO_LARGE' && !/larger than the max message size/i.test(errorMessage(e))) return e;
    let largest: { topic: string; m: Message; size: number } | undefined;
    for (const [topic, messages] of request) {
      for (const m of messages) {
        const size = recordBytes(m);
        if (!largest || size > largest.size) largest = { topic, m, size };
      }
    }
    if (!largest) return e;
    const limit = await this.topicLimits?.maxMessageBytes(largest.topic).catch(() => undefined);
    if (limit !== undefined && BATCH_OVERHEAD + largest.size > limit) return this.#tooLarge(largest.topic, largest.m, largest.size, limit, e);
    const total = [...request.values()].reduce((n, ms) => n + ms.reduce((k, m) => k + recordBytes(m), 0), 0);
    return new RecordTooLargeError(
      `Kafka refused a produce request of ${total} bytes for its size (${errorMessage(e)}); its largest record is ${largest.size} bytes (topic ${largest.topic}` +
        `${limit !== undefined ? `, max.message.bytes = ${limit}` : ''}). Check the broker's message.max.bytes and the topics' max.message.bytes (topics.config for topics the source creates)`,
      { topic: largest.topic, size: largest.size, requestBytes: total, ...(limit !== undefined ? { limit } : {}) },
      e,
    );
  }

  async #send(): Promise<void> {
    if (this.#buffer.length === 0) return;
    if (!this.#producer) throw new ConnectionError('kafka', 'publisher is not connected');
    const started = performance.now();
    if (!this.#tx) this.#tx = await this.#producer.transaction();
    const tx = this.#tx;
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
    for (const request of await this.#requests(byTopic)) {
      try {
        await tx.sendBatch({ acks: -1, compression: this.#options.compression ?? 0, topicMessages: [...request].map(([topic, messages]) => ({ topic, messages })) });
      } catch (e) {
        throw await this.#explain(e, request);
      }
    }
    this.stats.records += records;
    this.stats.bytes += bytes;
    this.stats.sends++;
    this.onSend?.(records, bytes, performance.now() - started);
    this.#log.trace({ records, bytes }, 'sent into transaction');
  }
}
