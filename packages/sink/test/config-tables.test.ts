import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, tableTopic } from '@walrelay/core';
import { configuredTableTopics, loadSinkConfig } from '../src/config.js';

const load = (env: NodeJS.ProcessEnv) => loadSinkConfig('sqlite', 'file:target.sqlite', [], env);

test('the sink reads tables with the source parser: quoted names, dots inside quotes, public by default', () => {
  const c = load({ WALRELAY_TABLES: '"My Schema"."a.b",public.orders,orders2', WALRELAY_TOPIC_PREFIX: 'wr' });
  assert.deepEqual(configuredTableTopics(c), [tableTopic('wr', 'My Schema', 'a.b'), 'wr.public.orders', 'wr.public.orders2']);
  // The first-dot split made "My Schema" / "a.b" into schema `"My Schema"` and table `"a.b"`.
  assert.notEqual(configuredTableTopics(c)[0], tableTopic('wr', '"My Schema"', '"a.b"'));
});

test('a bad tables entry is a ConfigError naming the setting and the entry', () => {
  assert.throws(() => load({ WALRELAY_TABLES: 'a.b.c' }), (e: unknown) => e instanceof ConfigError && /tables \(WALRELAY_TABLES\)/.test(e.message) && /a\.b\.c/.test(e.message));
});

test('tableNames keys use the tables syntax and come out as schema.table', () => {
  const c = load({ WALRELAY_TABLE_NAMES: '{"\\"My Schema\\".\\"a.b\\"": "ab", "orders": "orders_copy"}' });
  assert.deepEqual(c.tableNames, { 'My Schema.a.b': 'ab', 'public.orders': 'orders_copy' });
  assert.throws(() => load({ WALRELAY_TABLE_NAMES: '{"orders": "x", "public.orders": "y"}' }), (e: unknown) => e instanceof ConfigError && /same table/.test(e.message));
});
