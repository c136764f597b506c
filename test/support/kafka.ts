import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { avroType, decodeAvro, SchemaRegistryClient, unframe, type ChangeEnvelope } from '@walrelay/core';
import { KAFKA_BROKERS, REGISTRY_URL } from './env.js';
import { waitFor } from './wait.js';

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'walrelay-test', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
}

export interface ReadRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Record<string, unknown> | string | null;
  readonly value: ChangeEnvelope | null;
  readonly headers: Record<string, string>;
}

/**
 * A read_committed consumer that collects and decodes every record of some topics,
 * as any Debezium-style consumer would (Confluent wire format through the registry).
 */
export class TopicCollector {
  readonly records: ReadRecord[] = [];
  readonly #consumer: Consumer;
  readonly #registry = new SchemaRegistryClient({ url: REGISTRY_URL });
  readonly #topics: (string | RegExp)[];

  constructor(topics: (string | RegExp)[]) {
    this.#topics = topics;
    this.#consumer = testKafka().consumer({ groupId: `walrelay-test-${randomUUID()}`, readUncommitted: false, allowAutoTopicCreation: false });
  }

  async start(): Promise<void> {
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: this.#topics, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        this.records.push({
          partition,
          offset: BigInt(message.offset),
          key: await this.#decode(message.key, headers),
          value: (await this.#decode(message.value, headers)) as ChangeEnvelope | null,
          headers,
        });
      },
    });
  }

  async #decode(bytes: Buffer | null, headers: Record<string, string>): Promise<Record<string, unknown> | string | null> {
    if (!bytes || bytes.length === 0) return null;
    if (headers['walrelay.truncate'] !== undefined && bytes[0] !== 0) return bytes.toString('utf8');
    const { schemaId, payload } = unframe(bytes);
    return decodeAvro(avroType(await this.#registry.schemaById(schemaId)), payload) as Record<string, unknown>;
  }

  /** Waits until at least `n` records (tombstones included) arrived. */
  async waitForCount(n: number, timeoutMs = 60_000, describe?: () => Promise<string> | string): Promise<ReadRecord[]> {
    await waitFor(`${n} records`, () => this.records.length >= n, {
      timeoutMs,
      describe: async () => `have ${this.records.length}: ${JSON.stringify(this.records.map((r) => ({ p: r.partition, o: String(r.offset), h: r.headers })))}${describe ? `\n${await describe()}` : ''}`.slice(-6000),
    });
    return this.records;
  }

  changes(): ChangeEnvelope[] {
    return this.records.map((r) => r.value).filter((v): v is ChangeEnvelope => v !== null);
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect();
    this.#registry.close();
  }
}
