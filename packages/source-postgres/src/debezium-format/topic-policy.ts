import { ConfigError, type Logger } from '@walrelay/core';
import type { TopicManager } from '../publish/topics.js';

/**
 * Debezium's truncate record has a null key, which Kafka refuses on a compacted topic: a table
 * topic that already exists compacted is refused here (the topics the source creates in format
 * debezium are not compacted, see config.ts). A topic with several partitions is fine for
 * walrelay's sinks; Debezium's consumers apply its truncates exactly only on one (see README).
 */
export async function refuseCompactedForDebezium(topics: Pick<TopicManager, 'cleanupPolicy'>, topic: string, schema: string, table: string, partitions: number, log: Logger): Promise<void> {
  const policy = await topics.cleanupPolicy(topic);
  if (policy.includes('compact')) {
    throw new ConfigError(
      `topic ${topic} of table ${schema}.${table} has cleanup.policy=${policy}, but format debezium writes truncates as Debezium does, with a null key, which Kafka refuses on a compacted topic: set cleanup.policy=delete on the topic (kafka-configs --alter --add-config cleanup.policy=delete) or use format walrelay`,
      { details: { setting: 'format', topic, table: `${schema}.${table}` } },
    );
  }
  if (partitions > 1) {
    log.info({ topic, partitions }, 'format debezium: a Debezium consumer (such as its JDBC sink) applies truncates exactly only on a one-partition topic; walrelay sinks apply them on any');
  }
}
