import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApplyError,
  classifyError,
  ConfigError,
  ConnectionError,
  createLogger,
  DecodeError,
  InternalError,
  InterruptedError,
  isRetriable,
  ReplicationError,
  SchemaError,
  ValueError,
  withRetry,
} from '@walrelay/core';

test('one classification: configuration, data, connection, internal; retriable or not', () => {
  const cases: [unknown, string, boolean][] = [
    [new ConfigError('x'), 'configuration', false],
    [new ConnectionError('kafka', 'down'), 'connection', true],
    [new ConnectionError('mysql', 'access denied', { retriable: false }), 'connection', false],
    [new DecodeError('junk'), 'data', false],
    [new ValueError('too long'), 'data', false],
    [new SchemaError('incompatible'), 'data', false],
    [new SchemaError('changed again', { retriable: true }), 'connection', true],
    [new ApplyError('refused'), 'data', false],
    [new ApplyError('deadlock', { retriable: true }), 'connection', true],
    [new ReplicationError('wal_level is replica'), 'configuration', false],
    [new ReplicationError('slot in use', { retriable: true }), 'connection', true],
    [new InterruptedError('shutdown'), 'internal', false],
    [new InternalError('bug'), 'internal', false],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'connection', true],
    [Object.assign(new Error('x'), { name: 'KafkaJSNumberOfRetriesExceeded' }), 'connection', true],
    [new Error('plain'), 'internal', false],
    ['a string', 'internal', false],
  ];
  for (const [e, category, retriable] of cases) {
    const c = classifyError(e);
    assert.equal(c.category, category, String(e));
    assert.equal(c.retriable, retriable, String(e));
    assert.equal(isRetriable(e), retriable);
  }
  assert.equal(classifyError(new ValueError('v')).code, 'VALUE');
});

const log = createLogger('test', 'silent');

test('withRetry retries retriable errors with backoff, calls onRetry, and gives up on the rest', async () => {
  let calls = 0;
  const retried: number[] = [];
  const v = await withRetry(
    'flaky',
    async () => {
      calls++;
      if (calls < 3) throw new ConnectionError('x', 'down');
      return 'ok';
    },
    log,
    { initialMs: 1, maxMs: 2, onRetry: (n) => void retried.push(n) },
  );
  assert.equal(v, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(retried, [1, 2]);

  calls = 0;
  await assert.rejects(withRetry('bad', async () => { calls++; throw new ValueError('no'); }, log, { initialMs: 1 }), ValueError);
  assert.equal(calls, 1, 'a data error is not retried');

  calls = 0;
  await assert.rejects(withRetry('capped', async () => { calls++; throw new ConnectionError('x', 'down'); }, log, { initialMs: 1, maxMs: 1, attempts: 4 }), ConnectionError);
  assert.equal(calls, 4, 'attempts caps the tries');

  calls = 0;
  let stop = false;
  await assert.rejects(
    withRetry('stopping', async () => { calls++; stop = true; throw new ConnectionError('x', 'down'); }, log, { initialMs: 1, stopped: () => stop }),
    ConnectionError,
  );
  assert.equal(calls, 1, 'a stop request ends the retries with the last error');

  const ac = new AbortController();
  calls = 0;
  const p = withRetry('aborted', async () => { calls++; throw new ConnectionError('x', 'down'); }, log, { initialMs: 10_000, maxMs: 10_000, signal: ac.signal });
  setImmediate(() => ac.abort());
  await assert.rejects(p, ConnectionError);
  assert.equal(calls, 1, 'an abort during the wait ends it at once');
});
