import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@walrelay/core';
import { loadSourceConfig } from '../../src/config.js';

/** The `format` setting (WALRELAY_FORMAT) and what it implies for topic compaction. */
const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...extra });

test('format defaults to walrelay, with compacted topics', () => {
  const c = loadSourceConfig([], env({}));
  assert.equal(c.format, 'walrelay');
  assert.equal(c.topics.compact, true);
});

test('format debezium: topics default to cleanup.policy=delete (Debezium truncates have a null key)', () => {
  const c = loadSourceConfig([], env({ WALRELAY_FORMAT: 'debezium' }));
  assert.equal(c.format, 'debezium');
  assert.equal(c.topics.compact, false);
});

test('format debezium with compacted topics is refused, naming the settings', () => {
  assert.throws(
    () => loadSourceConfig([], env({ WALRELAY_FORMAT: 'debezium', WALRELAY_TOPIC_CONFIG: '{"cleanup.policy":"compact"}' })),
    (e: unknown) => e instanceof ConfigError && /topics\.compact/.test(e.message) && /null key/.test(e.message),
  );
});

test('an unknown format is refused', () => {
  assert.throws(() => loadSourceConfig([], env({ WALRELAY_FORMAT: 'avro' })), (e: unknown) => e instanceof ConfigError && /format/.test(e.message));
});
