import type { Admin } from 'kafkajs';
import { ConnectionError, TOPIC_CONFIG_RESOURCE, type Logger } from '@walrelay/core';

export interface TopicSettings {
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly compact: boolean;
  /** min.compaction.lag.ms of compacted table topics: how far a sink may lag and still see every record. */
  readonly minCompactionLagMs: number;
  readonly config: Readonly<Record<string, string>>;
}

/**
 * The checkpoint topic is always compacted (only the newest checkpoint of a slot
 * matters, and retention must never delete it), and rolls a segment every hour so it
 * stays small however many transactions are committed.
 */

const CHECKPOINT_TOPIC_CONFIG: Record<string, string> = { 'cleanup.policy': 'compact', 'segment.ms': '3600000' };

/** Creates topics the source writes to (if missing) and knows their partition counts. */
export class TopicManager {
  readonly #admin: Admin;
  readonly #settings: TopicSettings;
  readonly #log: Logger;
  readonly #partitions = new Map<string, number>();
  readonly #maxMessageBytes = new Map<string, number>();

  constructor(admin: Admin, settings: TopicSettings, log: Logger) {
    this.#admin = admin;
    this.#settings = settings;
    this.#log = log;
  }

  /** Ensures `topic` exists; returns its partition count. */
  async ensure(topic: string, partitions = this.#settings.partitions): Promise<number> {
    return this.#ensure(topic, partitions, this.#tableTopicConfig());
  }

  /** The limit if this run read it already (no await). */
  knownMaxMessageBytes(topic: string): number | undefined {
    return this.#maxMessageBytes.get(topic);
  }

  /**
   * The topic's `max.message.bytes` (its own setting or the broker's default), read once per
   * pipeline run (a failed run restarts with a new TopicManager, which reads it again): the
   * largest record batch the broker accepts for it.
   */
  async maxMessageBytes(topic: string): Promise<number> {
    const known = this.#maxMessageBytes.get(topic);
    if (known !== undefined) return known;
    let value: number;
    try {
      const described = await this.#admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC_CONFIG_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
      });
      value = Number(described.resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes')?.configValue);
    } catch (e) {
      throw new ConnectionError('kafka', `could not read max.message.bytes of topic ${topic}: ${(e as Error).message}`, { cause: e });
    }
    if (!Number.isFinite(value) || value <= 0) throw new ConnectionError('kafka', `topic ${topic} has no max.message.bytes in its configuration`);
    this.#maxMessageBytes.set(topic, value);
    return value;
  }

  /** Ensures the checkpoint topic exists (one partition, compacted). */
  ensureCheckpointTopic(topic: string): Promise<number> {
    return this.#ensure(topic, 1, CHECKPOINT_TOPIC_CONFIG);
  }

  #tableTopicConfig(): Record<string, string> {
    const compacted: Record<string, string> = this.#settings.compact
      ? { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': String(this.#settings.minCompactionLagMs) }
      : {};
    return { ...compacted, ...this.#settings.config };
  }

  /** The topic's cleanup.policy as the broker reports it (`delete` when it reports none). */
  async cleanupPolicy(topic: string): Promise<string> {
    try {
      const r = await this.#admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_CONFIG_RESOURCE, name: topic, configNames: ['cleanup.policy'] }] });
      return r.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? 'delete';
    } catch (e) {
      throw new ConnectionError('kafka', `could not read the configuration of topic ${topic}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #ensure(topic: string, partitions: number, config: Record<string, string>): Promise<number> {
    const known = this.#partitions.get(topic);
    if (known !== undefined) return known;
    // Ask first: kafkajs logs an ERROR line for every CreateTopics of an existing topic.
    if (!(await this.#admin.listTopics()).includes(topic)) await this.#create(topic, partitions, config);
    const meta = await this.#admin.fetchTopicMetadata({ topics: [topic] });
    const count = meta.topics[0]?.partitions.length ?? 0;
    if (count === 0) throw new ConnectionError('kafka', `topic ${topic} has no partitions in the metadata`);
    this.#partitions.set(topic, count);
    return count;
  }

  async #create(topic: string, partitions: number, config: Record<string, string>): Promise<void> {
    const configEntries = Object.entries(config).map(([name, value]) => ({ name, value }));
    try {
      const created = await this.#admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor: this.#settings.replicationFactor, configEntries }],
      });
      if (created) this.#log.info({ topic, partitions }, 'created topic');
    } catch (e) {
      const err = e as { type?: string; message?: string };
      if (err.type !== 'TOPIC_ALREADY_EXISTS' && !/already exists/i.test(err.message ?? '')) {
        throw new ConnectionError('kafka', `could not create topic ${topic}: ${err.message ?? String(e)}`, { cause: e });
      }
    }
  }
}
