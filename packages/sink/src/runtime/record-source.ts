/**
 * What the sink runtime needs from a log of records (Kafka in production, memory in unit
 * tests). The runtime never sees a Kafka client: kafka-loop.ts adapts kafkajs to this.
 */

/** One record of a table topic's partition. */
export interface SourceRecord {
  readonly offset: bigint;
  readonly key: Buffer | null;
  /** null for a tombstone. */
  readonly value: Buffer | null;
  /** Header values as UTF-8 text. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Consecutive records of one partition, in offset order. */
export interface SourceBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly SourceRecord[];
  /** The offset that consumes the whole batch (≥ the last record's; may cover control records). */
  readonly lastOffset: bigint;
  /** Records behind the partition's high watermark after this batch. */
  readonly lag: number;
}

/** What a batch handler may do while it holds the batch. */
export interface BatchControl {
  /** False once the batch is stale (a seek or rebalance since it was fetched) or the source stops. */
  active(): boolean;
  /** Keeps the group membership alive during a long apply. */
  heartbeat(): Promise<void>;
  /** Marks the batch as consumed up to and including `offset`. */
  resolve(offset: bigint): void;
}

export interface SourceHandlers {
  /**
   * Called on every assignment (topic → partitions). The source does not wait for it:
   * the runtime makes the batches of the new assignment wait instead.
   */
  assigned(assignment: ReadonlyMap<string, readonly number[]>): void;
  /** One batch; throwing a retriable error makes the source redeliver from the last resolved offset. */
  batch(batch: SourceBatch, control: BatchControl): Promise<void>;
  /** The source cannot go on (crash, a non-retriable batch error, new topics to subscribe to). */
  failed(error: Error): void;
}

export interface RecordSource {
  /**
   * Connects, subscribes to the selected topics that exist now and starts delivering.
   * Resolves with those topics (none: nothing is delivered until topics appear, which is
   * reported through `failed` with a TopicsChanged).
   */
  start(handlers: SourceHandlers): Promise<readonly string[]>;
  /** Stops fetching at the next batch boundary (the batch in hand is finished). */
  stop(): Promise<void>;
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
  /** Resumes every paused partition. */
  resumeAll(): void;
  /** The next record delivered for the partition is at `offset` (an assigned partition only). */
  seek(topic: string, partition: number, offset: bigint): void;
  /** Commits the consumer group's position (after the target committed), with metadata text. */
  commit(topic: string, partition: number, nextOffset: bigint, metadata: string): Promise<void>;
  /** How many partitions the topic has (all of them, not only those assigned here). */
  partitionCount(topic: string): Promise<number>;
  /** Releases every connection. Idempotent. */
  close(): Promise<void>;
}

/** A record the sink could not apply, as it goes to the dead-letter topic. */
export interface DeadLetterRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** Writes dead letters durably (acks=all) before the runtime moves past them. */
export interface DeadLetterWriter {
  send(record: DeadLetterRecord): Promise<void>;
  close(): Promise<void>;
}
