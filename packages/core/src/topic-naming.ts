import { ConfigError } from './errors.js';

/** Characters Kafka allows in a topic name. */
const TOPIC_CHAR = /[^A-Za-z0-9._-]/g;

/** Replaces what Kafka does not allow in a topic name by `_` (as Debezium does). */
export function topicPart(name: string): string {
  const cleaned = name.replace(TOPIC_CHAR, '_');
  return cleaned.length === 0 ? '_' : cleaned;
}

export function tableTopic(prefix: string, schema: string, table: string): string {
  const topic = `${prefix}.${topicPart(schema)}.${topicPart(table)}`;
  if (topic.length > 249) {
    throw new ConfigError(`topic name for table ${schema}.${table} is longer than Kafka's 249 characters: ${topic}`);
  }
  return topic;
}

export function keySubject(topic: string): string {
  return `${topic}-key`;
}

export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** The compacted topic holding each source's checkpoint, keyed by slot name. */
export function checkpointTopic(prefix: string): string {
  return `${prefix}.__walrelay_checkpoints`;
}

/** The dead-letter topic of one sink (e.g. `walrelay.dlq.sqlite`). */
export function deadLetterTopic(prefix: string, sink: string): string {
  return `${prefix}.dlq.${topicPart(sink)}`;
}

/** Topics a sink subscribes to: `<prefix>.<schema>.<table>`, not the dead-letter or checkpoint topics. */
export function tableTopicPattern(prefix: string): RegExp {
  const p = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${p}\\.(?!dlq\\.)(?!__walrelay)[^.]+\\.[^.]+$`);
}
