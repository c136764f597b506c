import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  barrierTopics,
  deadLetterHeaders,
  DLQ_HEADERS,
  DLQ_REASON_MAX_LENGTH,
  TRUNCATE_HEADER,
  TRUNCATE_ID_HEADER,
  TRUNCATE_KEY,
  truncateId,
} from '@walrelay/core';

test('truncate marker: the key and headers both stages agree on', () => {
  // Values already on the wire (topics written by earlier versions must still be read).
  assert.equal(TRUNCATE_KEY.toString('utf8'), '__walrelay_truncate__');
  assert.equal(TRUNCATE_HEADER, 'walrelay.truncate');
  assert.equal(TRUNCATE_ID_HEADER, 'walrelay.truncate.id');
  assert.equal(truncateId(123n, 4n), '123:4');
});

test('barrier rows: fixed names per topic, stable (already stored in targets\' walrelay_offsets)', () => {
  // printf '%s' walrelay.public.orders | sha1sum → d693c73e24b044b5…
  assert.deepEqual(barrierTopics('walrelay.public.orders'), {
    arrivalTopic: '__walrelay_truncate:d693c73e24b044b5',
    doneTopic: '__walrelay_truncate_done:d693c73e24b044b5',
  });
  assert.notDeepEqual(barrierTopics('walrelay.public.orders'), barrierTopics('walrelay.public.orders2'));
});

test('dead-letter headers: the names the runtime writes, the reason capped', () => {
  const h = deadLetterHeaders({ reason: 'x'.repeat(DLQ_REASON_MAX_LENGTH + 10), code: 'VALUE', stage: 'apply', topic: 't', partition: 2, offset: '17', sink: 'mysql' });
  // Every header but the table's, which only a record of a refused table carries.
  assert.deepEqual(Object.keys(h).sort(), Object.values(DLQ_HEADERS).filter((n) => n !== DLQ_HEADERS.table).sort());
  const refused = deadLetterHeaders({ reason: 'no key', code: 'CONFIG', stage: 'table', topic: 't', partition: 0, offset: '1', sink: 'sqlite', table: 'orders' });
  assert.equal(refused['walrelay.table'], 'orders');
  assert.equal(refused['walrelay.error.stage'], 'table');
  assert.equal(h['walrelay.error']?.length, DLQ_REASON_MAX_LENGTH);
  assert.equal(h['walrelay.error.code'], 'VALUE');
  assert.equal(h['walrelay.error.stage'], 'apply');
  assert.equal(h['walrelay.topic'], 't');
  assert.equal(h['walrelay.partition'], '2');
  assert.equal(h['walrelay.offset'], '17');
  assert.equal(h['walrelay.sink'], 'mysql');
});
