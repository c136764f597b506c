import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { formatTableName, type TableName } from './table-names.js';

/**
 * Topic names of the wire contract.
 *
 * A table topic is `<prefix>.<schemaPart>.<tablePart>`. A schema or table name made only of
 * `[A-Za-z0-9_-]` is its own part (Debezium's topic for ordinary names). Any other name — a
 * dot, space, quote, unicode, anything Kafka does not allow — and any name starting with the
 * reserved `__walrelay` becomes its sanitised form (each other character → `_`) plus `_` and
 * 8 hex digits of SHA-256 over the UTF-8 name: stable across restarts and versions, and two
 * names that sanitise alike (`"x y"`, `x_y`) get different parts. Parts never hold a dot, so
 * every table topic has exactly three dot-separated parts, and no part starts with
 * `__walrelay` (walrelay's own topics: checkpoints, dead letters).
 */

/** Characters Kafka allows in a topic name besides the dot (which separates the parts). */
const PLAIN_PART = /^[A-Za-z0-9_-]+$/;
/** Parts starting with this are walrelay's own (checkpoints, dead letters); never a table's. */
export const RESERVED_TOPIC_PART = '__walrelay';
/** Kafka's limit on topic name length. */
export const MAX_TOPIC_LENGTH = 249;
/**
 * The longest topic part of a PostgreSQL name (at most 63 bytes, so at most 63 characters):
 * `_` + 63 sanitised characters + `_` + 8 hex digits.
 */
export const MAX_TOPIC_PART_LENGTH = 73;
/** A prefix up to this long fits every table's topic within MAX_TOPIC_LENGTH. */
export const MAX_SAFE_TOPIC_PREFIX_LENGTH = MAX_TOPIC_LENGTH - 2 * MAX_TOPIC_PART_LENGTH - 2;

function nameHash(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
}

/** Whether `name` is its own topic part (no encoding). */
export function isPlainTopicPart(name: string): boolean {
  return PLAIN_PART.test(name) && !name.startsWith(RESERVED_TOPIC_PART);
}

/** The topic part of one schema or table name (see above). */
export function topicPart(name: string): string {
  if (isPlainTopicPart(name)) return name;
  // One `_` per code point (not per UTF-16 unit), so a 63-byte PostgreSQL name stays ≤ 63 here.
  let cleaned = Array.from(name, (ch) => (/^[A-Za-z0-9_-]$/.test(ch) ? ch : '_')).join('');
  // `__walrelay…` stays out of the reserved space: `___walrelay…` does not start with it.
  if (cleaned.startsWith(RESERVED_TOPIC_PART)) cleaned = `_${cleaned}`;
  return `${cleaned}_${nameHash(name)}`;
}

/** The topic of one table. Refuses (ConfigError) a topic longer than Kafka allows. */
export function tableTopic(prefix: string, schema: string, table: string): string {
  const topic = `${prefix}.${topicPart(schema)}.${topicPart(table)}`;
  if (topic.length > MAX_TOPIC_LENGTH) {
    throw new ConfigError(
      `topic for table ${formatTableName({ schema, table })} would be ${topic.length} characters, longer than Kafka's ${MAX_TOPIC_LENGTH}: ${topic}; shorten topicPrefix (now ${prefix.length} characters) or exclude the table in the tables setting`,
      { details: { setting: 'topicPrefix', table: `${schema}.${table}` } },
    );
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
  return `${prefix}.${RESERVED_TOPIC_PART}_checkpoints`;
}

/**
 * The dead-letter topic of one sink (e.g. `walrelay.__walrelay_dlq.sqlite`): outside the
 * table namespace, so a schema named `dlq` is an ordinary table topic.
 */
export function deadLetterTopic(prefix: string, sink: string): string {
  return `${prefix}.${RESERVED_TOPIC_PART}_dlq.${topicPart(sink)}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Topics a sink subscribes to by default: every `<prefix>.<schemaPart>.<tablePart>` the source
 * can write (see topicPart), and none of walrelay's own (`__walrelay…` parts).
 */
export function tableTopicPattern(prefix: string): RegExp {
  const part = `(?!${RESERVED_TOPIC_PART})[A-Za-z0-9_-]+`;
  return new RegExp(`^${escapeRegExp(prefix)}\\.${part}\\.${part}$`);
}

/**
 * Kafka refuses a topic whose name equals another's once `.` is read as `_` (their metric
 * names would collide), so two table topics must differ in this form too.
 */
export function topicCollisionKey(topic: string): string {
  return topic.replace(/\./g, '_');
}

/**
 * Refuses (ConfigError) a set of captured tables of which two would share a topic, or two
 * topics Kafka would refuse as colliding (`a.b_c` / `a_b.c`): the residual collisions the
 * encoding leaves (a literal name equal to another's encoded part). Returns the topic per table.
 */
export function assignTableTopics(prefix: string, tables: readonly TableName[]): Map<TableName, string> {
  const byKey = new Map<string, TableName>();
  const out = new Map<TableName, string>();
  for (const t of tables) {
    const topic = tableTopic(prefix, t.schema, t.table);
    const key = topicCollisionKey(topic);
    const other = byKey.get(key);
    if (other !== undefined && !(other.schema === t.schema && other.table === t.table)) {
      throw new TopicCollisionError(prefix, other, t, topic, out.get(other) as string);
    }
    byKey.set(key, t);
    out.set(t, topic);
  }
  return out;
}

/** Two captured tables would share a topic (or two topics Kafka would refuse as colliding). */
export class TopicCollisionError extends ConfigError {
  readonly tables: readonly [TableName, TableName];
  constructor(prefix: string, a: TableName, b: TableName, topicB: string, topicA: string) {
    const an = formatTableName(a);
    const bn = formatTableName(b);
    super(
      `tables ${an} and ${bn} would share Kafka topic ${topicA === topicB ? topicA : `${topicA} / ${topicB} (Kafka treats . and _ alike)`} under prefix ${prefix}: exclude one of them with the tables setting (or from the publication), or rename one`,
      { details: { setting: 'tables', tables: [an, bn] } },
    );
    this.tables = [a, b];
  }
}
