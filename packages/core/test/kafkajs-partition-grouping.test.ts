import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { groupMessagesPerPartition, kafkaGroupingPatched } from '../src/index.js';

test('kafkajs producer groups with the linear grouping (installed before kafkajs loaded)', () => {
  assert.equal(kafkaGroupingPatched, true);
  const loaded = createRequire(import.meta.url)('kafkajs/src/producer/groupMessagesPerPartition.js') as unknown;
  assert.equal(loaded, groupMessagesPerPartition);
});

test('the grouping keeps every message, each partition in its order, and nothing without partitions', () => {
  const messages = Array.from({ length: 10_000 }, (_, i) => ({ partition: (i * 7919) % 5, i }));
  const grouped = groupMessagesPerPartition({
    topic: 't',
    partitionMetadata: [{}, {}, {}, {}, {}],
    messages,
    partitioner: ({ message }) => (message as { partition: number }).partition,
  });
  assert.deepEqual(Object.keys(grouped).sort(), ['0', '1', '2', '3', '4']);
  let total = 0;
  for (const [p, list] of Object.entries(grouped)) {
    const ids = (list as { partition: number; i: number }[]).map((m) => {
      assert.equal(m.partition, Number(p));
      return m.i;
    });
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    total += ids.length;
  }
  assert.equal(total, messages.length);
  assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 }), {});
});
