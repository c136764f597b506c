import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignTableTopics,
  checkpointTopic,
  ConfigError,
  deadLetterTopic,
  MAX_SAFE_TOPIC_PREFIX_LENGTH,
  MAX_TOPIC_LENGTH,
  MAX_TOPIC_PART_LENGTH,
  tableTopic,
  tableTopicPattern,
  topicCollisionKey,
  TopicCollisionError,
  topicPart,
} from '@walrelay/core';

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters chosen to collide under naive sanitising: Kafka-invalid ones, dots, case, unicode. */
const ALPHABET = ['a', 'b', 'X', '0', '9', '_', '-', '.', ' ', '"', "'", '`', '/', 'é', 'ü', '表', '😀', '\t', '$', '__walrelay'];

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function randomName(next: () => number): string {
  const len = 1 + Math.floor(next() * 12);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  // PostgreSQL names are at most 63 bytes.
  while (utf8Length(s) > 63) s = Array.from(s).slice(0, -1).join('');
  return s;
}

test('topicPart: ordinary names are kept (Debezium-compatible), others get a stable hash suffix', () => {
  for (const plain of ['orders', 'Order_Items', 'a-b', 'x_y', '_', '0', 'dlq']) assert.equal(topicPart(plain), plain);
  // Golden values (first 8 hex digits of `printf '%s' NAME | sha256sum`): the encoding must not
  // change across versions, since topics already exist under these names.
  assert.equal(topicPart('x y'), 'x_y_887fcea6');
  assert.equal(topicPart('a.b'), 'a_b_2e7336dc');
  assert.equal(topicPart('__walrelay_x'), '___walrelay_x_a9625087');
  for (const n of ['x y', 'a.b', 'é', '表', 'quote"d', '__walrelay', '__walrelayz']) {
    const part = topicPart(n);
    assert.match(part, /^[A-Za-z0-9_-]+_[0-9a-f]{8}$/, n);
    assert.ok(!part.startsWith('__walrelay'), `${n} → ${part} must stay out of the reserved space`);
    assert.equal(topicPart(n), part, 'stable');
  }
});

test('topicPart is injective over generated hostile names (property)', () => {
  const next = rng(20261201);
  const byPart = new Map<string, string>();
  let hashed = 0;
  for (let i = 0; i < 20_000; i++) {
    const name = randomName(next);
    const part = topicPart(name);
    assert.ok(!part.includes('.'), `${JSON.stringify(name)} → ${part} has a dot`);
    assert.ok(part.length <= MAX_TOPIC_PART_LENGTH, `${JSON.stringify(name)} → ${part.length} characters`);
    if (part !== name) hashed++;
    const other = byPart.get(part);
    if (other !== undefined) assert.equal(other, name, `${JSON.stringify(other)} and ${JSON.stringify(name)} share part ${part}`);
    byPart.set(part, name);
  }
  assert.ok(byPart.size > 15_000, `enough distinct names generated (${byPart.size})`);
  assert.ok(hashed > 10_000, 'most generated names need the hash form');
});

test('every table topic matches the default pattern; walrelay-internal topics never do', () => {
  const next = rng(7);
  const prefix = 'walrelay';
  const pattern = tableTopicPattern(prefix);
  for (let i = 0; i < 5_000; i++) {
    const schema = randomName(next);
    const table = randomName(next);
    const topic = tableTopic(prefix, schema, table);
    assert.match(topic, pattern, `${JSON.stringify(schema)}.${JSON.stringify(table)} → ${topic}`);
    assert.equal(topic.split('.').length, 3);
  }
  for (const t of ['dlq', 'public', 'a.b', 'x y']) assert.match(tableTopic(prefix, t, 'orders'), pattern, `schema ${t}`);
  assert.match(tableTopic(prefix, 'dlq', 'mysql'), pattern, 'a schema named dlq is an ordinary table topic');
  assert.doesNotMatch(checkpointTopic(prefix), pattern);
  for (const sink of ['mysql', 'sqlite', 'mssql']) assert.doesNotMatch(deadLetterTopic(prefix, sink), pattern);
  assert.equal(deadLetterTopic(prefix, 'mysql'), 'walrelay.__walrelay_dlq.mysql');
  assert.doesNotMatch('walrelay.__walrelay_truncate.x', pattern);
  assert.doesNotMatch('other.public.orders', pattern, 'another prefix');
  assert.doesNotMatch('walrelayx.public.orders', pattern, 'the prefix is matched exactly');
  assert.doesNotMatch('walrelay.public.orders.extra', pattern);
  assert.match('wal-re_lay.public.orders', tableTopicPattern('wal-re_lay'));
});

test('63-character schema and table names fit Kafka with a long prefix; a longer prefix is refused naming the table', () => {
  const long = (c: string): string => c.repeat(63);
  const prefix = 'p'.repeat(MAX_SAFE_TOPIC_PREFIX_LENGTH);
  for (const [schema, table] of [
    [long('s'), long('t')],
    [long('.'), long('é').slice(0, 31)],
    [`__walrelay${long(' ').slice(10)}`, `__walrelay${long('x').slice(10)}`],
  ] as const) {
    const topic = tableTopic(prefix, schema, table);
    assert.ok(topic.length <= MAX_TOPIC_LENGTH, `${topic.length}`);
  }
  const worst = tableTopic(prefix, `__walrelay${long(' ').slice(10)}`, `__walrelay${long(' ').slice(10)}`);
  assert.equal(worst.length, MAX_TOPIC_LENGTH, 'the bound is tight');
  assert.throws(
    () => tableTopic(`${prefix}p`, `__walrelay${long(' ').slice(10)}`, `__walrelay${long(' ').slice(10)}`),
    (e: unknown) => e instanceof ConfigError && /longer than Kafka's 249/.test(e.message) && /topicPrefix/.test(e.message) && /__walrelay/.test(e.message),
  );
});

test('a residual collision is refused naming both tables and how to exclude one', () => {
  const literal = topicPart('x y'); // a table literally named like another's encoded part
  assert.throws(
    () => assignTableTopics('walrelay', [{ schema: 's', table: 'x y' }, { schema: 's', table: 'x_y' }, { schema: 's', table: literal }]),
    (e: unknown) =>
      e instanceof TopicCollisionError &&
      e instanceof ConfigError &&
      e.message.includes('s."x y"') &&
      e.message.includes(`s.${literal}`) &&
      /tables setting/.test(e.message),
  );
  // Kafka refuses topics equal once . reads as _ (s.x_y vs s_x.y).
  assert.equal(topicCollisionKey('walrelay.s.x_y'), topicCollisionKey('walrelay.s_x.y'));
  assert.throws(
    () => assignTableTopics('walrelay', [{ schema: 's', table: 'x_y' }, { schema: 's_x', table: 'y' }]),
    (e: unknown) => e instanceof TopicCollisionError && /s\.x_y/.test(e.message) && /s_x\.y/.test(e.message) && /Kafka treats \. and _ alike/.test(e.message),
  );
  const ok = assignTableTopics('walrelay', [{ schema: 's', table: 'x y' }, { schema: 's', table: 'x_y' }, { schema: 'dlq', table: 'a.b' }]);
  assert.equal(new Set(ok.values()).size, 3);
});
