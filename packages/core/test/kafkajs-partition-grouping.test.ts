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

test("messages that name their partition and messages placed by key group as kafkajs' own grouping does with its default partitioner", () => {
  const require = createRequire(import.meta.url);
  const { Partitioners } = require('kafkajs') as { Partitioners: { DefaultPartitioner: () => (a: unknown) => number } };
  const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 1 }));
  const messages = Array.from({ length: 2_000 }, (_, i) => (i % 3 === 0 ? { key: Buffer.from(`k${i}`), i } : { key: Buffer.from(`k${i}`), partition: i % 4, i }));
  // kafkajs' grouping as it is written in kafkajs 2.2.4 (every message through the partitioner).
  const reference = (partitioner: (a: unknown) => number) =>
    messages.reduce<Record<number, unknown[]>>((result, message) => {
      const partition = partitioner({ topic: 't', partitionMetadata, message });
      return Object.assign(result, { [partition]: [...(result[partition] ?? []), message] });
    }, {});
  const ours = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: Partitioners.DefaultPartitioner() as never });
  assert.deepEqual(ours, reference(Partitioners.DefaultPartitioner()));
  assert.ok(Object.values(ours).every((list) => list.some((m) => (m as { partition?: number }).partition === undefined)), 'keyed messages spread over the partitions too');
});
