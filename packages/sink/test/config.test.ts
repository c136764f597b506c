import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@walrelay/core';
import { loadSinkConfig } from '../src/config.js';

const load = (env: NodeJS.ProcessEnv) => loadSinkConfig('sqlite', 'file:target.sqlite', [], env);

test('defaults: one consumer group per dialect, 8 MiB fetched per partition, truncates applied', () => {
  const c = load({});
  assert.equal(c.groupId, 'walrelay-sink-sqlite');
  assert.equal(c.target.url, 'file:target.sqlite');
  assert.equal(c.batch.fetchBytesPerPartition, 1024 * 1024);
  assert.equal(c.batch.maxRecords, 5_000);
  assert.equal(c.truncate, 'apply');
  assert.equal(c.onError, 'fail');
});

test('environment variables set the batch and fetch sizes', () => {
  const c = load({ WALRELAY_FETCH_BYTES_PER_PARTITION: '1048576', WALRELAY_BATCH_MAX_RECORDS: '200', WALRELAY_TABLE_NAMES: '{"public.orders":"orders_copy"}' });
  assert.equal(c.batch.fetchBytesPerPartition, 1_048_576);
  assert.equal(c.batch.maxRecords, 200);
  assert.deepEqual(c.tableNames, { 'public.orders': 'orders_copy' });
});

test('a bad value is a ConfigError naming the setting and its variable', () => {
  assert.throws(() => load({ WALRELAY_FETCH_BYTES_PER_PARTITION: '1000' }), (e: unknown) => e instanceof ConfigError && /batch\.fetchBytesPerPartition \(WALRELAY_FETCH_BYTES_PER_PARTITION\)/.test(e.message));
  assert.throws(() => load({ WALRELAY_FETCH_BYTES_PER_PARTITION: 'lots' }), (e: unknown) => e instanceof ConfigError && /WALRELAY_FETCH_BYTES_PER_PARTITION/.test(e.message));
  assert.throws(() => load({ WALRELAY_TRUNCATE: 'sometimes' }), (e: unknown) => e instanceof ConfigError && /truncate \(WALRELAY_TRUNCATE\)/.test(e.message));
});

test('target.cacheSizeKiB: the SQLite sink reads it (file or environment); another dialect refuses it, naming it', () => {
  assert.equal(load({}).target.cacheSizeKiB, undefined, 'unset: the SQLite target uses its own default');
  assert.equal(load({ WALRELAY_TARGET_CACHE_SIZE_KIB: '16384' }).target.cacheSizeKiB, 16_384);
  assert.throws(() => load({ WALRELAY_TARGET_CACHE_SIZE_KIB: '10' }), (e: unknown) => e instanceof ConfigError && /target\.cacheSizeKiB \(WALRELAY_TARGET_CACHE_SIZE_KIB\)/.test(e.message));
  assert.throws(
    () => loadSinkConfig('mysql', 'mysql://x@127.0.0.1/db', [], { WALRELAY_TARGET_CACHE_SIZE_KIB: '4096' }),
    (e: unknown) => e instanceof ConfigError && /target\.cacheSizeKiB/.test(e.message) && /SQLite sink only, not to walrelay-sink-mysql/.test(e.message),
  );
});
