// kafkajs 2.2.4 against the local Kafka 4.1 broker (scripts/services.sh): every feature walrelay
// relies on, end to end. Each step asserts on what the broker sends back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Admin, type Consumer, type Producer } from 'kafkajs';
import { KAFKA_BROKERS, unique, waitFor } from './helpers.js';

// kafkajs is CommonJS; not all of its exports are visible as ESM named exports.
const { ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;
// WALRELAY_TEST_KAFKAJS_DEBUG=1 logs every request with its API version.
const kafka = new Kafka({
  clientId: 'walrelay-services-test',
  brokers: KAFKA_BROKERS,
  logLevel: process.env.WALRELAY_TEST_KAFKAJS_DEBUG ? logLevel.DEBUG : logLevel.ERROR,
});
const topic = unique('walrelay.services-test.items');
const outTopic = unique('walrelay.services-test.out');
const group = unique('walrelay-services-test-group');
const txGroup = unique('walrelay-services-test-txgroup');

let admin: Admin;
const producers: Producer[] = [];
const consumers: Consumer[] = [];

function producer(opts: Parameters<typeof kafka.producer>[0] = {}): Producer {
  const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...opts });
  producers.push(p);
  return p;
}

interface Seen { partition: number; offset: string; key: string; value: string }

/** Runs a consumer in `groupId` until `done(seen)` holds; returns what it saw (consumer stays up). */
async function consumeUntil(
  groupId: string,
  done: (seen: Seen[]) => boolean,
  opts: { readUncommitted?: boolean } = {},
): Promise<{ consumer: Consumer; seen: Seen[] }> {
  const consumer = kafka.consumer({ groupId, readUncommitted: opts.readUncommitted ?? false, maxWaitTimeInMs: 200 });
  consumers.push(consumer);
  const seen: Seen[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      seen.push({ partition, offset: message.offset, key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
    },
  });
  await waitFor(`consumer in ${groupId} to see the expected records (saw ${seen.length})`, () => done(seen));
  return { consumer, seen };
}

const PARTITIONS = [0, 1, 2];
const sentinel = (phase: string) => PARTITIONS.map((partition) => ({ partition, key: `sentinel-${phase}-${partition}`, value: `sentinel-${phase}` }));
const sawSentinels = (phase: string) => (seen: Seen[]) =>
  PARTITIONS.every((p) => seen.some((s) => s.partition === p && s.value === `sentinel-${phase}`));

describe('Kafka 4.1 broker with kafkajs 2.2.4', () => {
  before(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => {});
    for (const p of producers) await p.disconnect().catch(() => {});
    await admin.deleteTopics({ topics: [topic, outTopic], timeout: 30_000 }).catch(() => {});
    await admin.disconnect();
  });

  test('creates a compacted 3-partition topic (CreateTopics, DescribeConfigs, Metadata)', async () => {
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
        { topic: outTopic, numPartitions: 1, replicationFactor: 1 },
      ],
    });
    assert.equal(created, true);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
    });
    const entry = configs.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy');
    assert.equal(entry?.configValue, 'compact');
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.deepEqual(meta.topics[0]?.partitions.map((p) => p.partitionId).sort(), PARTITIONS);
    assert.ok((await admin.listTopics()).includes(topic));
  });

  test('idempotent producer writes keyed records with acks=all (InitProducerId, Produce)', async () => {
    const p = producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const res = await p.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `plain-${i}` })),
    });
    assert.ok(res.length >= 1 && res.every((r) => r.errorCode === 0), JSON.stringify(res));
    // the default partitioner spreads 30 keys over more than one partition
    assert.ok(new Set(res.map((r) => r.partition)).size > 1, JSON.stringify(res));
  });

  test('transactions: committed records visible, aborted ones hidden from read_committed', async () => {
    const p = producer({ transactionalId: unique('walrelay-services-test-tx'), idempotent: true, maxInFlightRequests: 1 });
    await p.connect();

    const committed = await p.transaction();
    await committed.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `t${i}`, value: `committed-${i}` })) });
    await committed.commit();

    const aborted = await p.transaction();
    await aborted.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `a${i}`, value: `aborted-${i}` })) });
    await aborted.abort();

    const last = await p.transaction();
    await last.send({ topic, messages: sentinel('one') });
    await last.commit();

    const { consumer, seen } = await consumeUntil(group, sawSentinels('one'));
    const values = new Set(seen.map((s) => s.value));
    for (let i = 0; i < 30; i++) assert.ok(values.has(`plain-${i}`), `plain-${i} missing`);
    for (let i = 0; i < 10; i++) assert.ok(values.has(`committed-${i}`), `committed-${i} missing`);
    assert.deepEqual(seen.filter((s) => s.value.startsWith('aborted-')), [], 'read_committed consumer saw aborted records');

    // The aborted records are physically in the log: a read_uncommitted consumer sees them.
    const dirty = await consumeUntil(unique('walrelay-services-test-dirty'), sawSentinels('one'), { readUncommitted: true });
    assert.equal(dirty.seen.filter((s) => s.value.startsWith('aborted-')).length, 10);
    await dirty.consumer.disconnect();

    // Commit the position after everything seen, with a metadata string (OffsetCommit).
    const next = new Map<number, bigint>();
    for (const s of seen) {
      const o = BigInt(s.offset) + 1n;
      if (o > (next.get(s.partition) ?? 0n)) next.set(s.partition, o);
    }
    await consumer.commitOffsets(
      [...next].map(([partition, offset]) => ({ topic, partition, offset: offset.toString(), metadata: `lsn=0/${partition}ABC` })),
    );
    const fetched = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const parts = fetched[0]!.partitions.sort((a, b) => a.partition - b.partition);
    for (const p of parts) {
      assert.equal(p.offset, next.get(p.partition)!.toString(), `committed offset of partition ${p.partition}`);
      assert.equal(p.metadata, `lsn=0/${p.partition}ABC`, `metadata of partition ${p.partition} round-trips`);
    }
    await consumer.disconnect();
  });

  test('a restarted consumer resumes from the committed offsets', async () => {
    const p = producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    await p.send({ topic, acks: -1, messages: [...Array.from({ length: 6 }, (_, i) => ({ key: `r${i}`, value: `after-restart-${i}` })), ...sentinel('two')] });

    const { consumer, seen } = await consumeUntil(group, sawSentinels('two'));
    const stale = seen.filter((s) => !s.value.startsWith('after-restart-') && s.value !== 'sentinel-two');
    assert.deepEqual(stale, [], 'the restarted consumer re-read records before its committed offsets');
    assert.equal(seen.filter((s) => s.value.startsWith('after-restart-')).length, 6);
    await consumer.disconnect();
  });

  test('sendOffsets inside a transaction commits consumer offsets atomically (AddOffsetsToTxn, TxnOffsetCommit)', async () => {
    const p = producer({ transactionalId: unique('walrelay-services-test-tx2'), idempotent: true, maxInFlightRequests: 1 });
    await p.connect();

    const tx = await p.transaction();
    await tx.send({ topic: outTopic, messages: [{ key: 'x', value: 'transformed' }] });
    // `metadata` is passed through by kafkajs although its TypeScript type lacks the field
    await tx.sendOffsets({
      consumerGroupId: txGroup,
      topics: [{ topic, partitions: [{ partition: 0, offset: '5', metadata: 'tx-meta' } as { partition: number; offset: string }] }],
    });
    await tx.commit();

    // A transactional offset commit becomes visible once the coordinator has written the
    // transaction's markers, which can trail commit()'s answer: wait for it (OffsetFetch answers
    // -1 until then), then check what was stored.
    const p0 = await waitFor('the committed transactional offset', async () => {
      const fetched = await admin.fetchOffsets({ groupId: txGroup, topics: [topic] });
      const part = fetched[0]!.partitions.find((x) => x.partition === 0);
      return part && part.offset !== '-1' ? part : undefined;
    }, 30_000);
    assert.equal(p0.offset, '5');
    assert.equal(p0.metadata, 'tx-meta');

    // An aborted transaction's offsets are not applied.
    const tx2 = await p.transaction();
    await tx2.send({ topic: outTopic, messages: [{ key: 'y', value: 'discarded' }] });
    await tx2.sendOffsets({ consumerGroupId: txGroup, topics: [{ topic, partitions: [{ partition: 0, offset: '9' }] }] });
    await tx2.abort();
    const settled = await waitFor('the group offset after the abort', async () => {
      const fetched = await admin.fetchOffsets({ groupId: txGroup, topics: [topic] });
      const offset = fetched[0]!.partitions.find((x) => x.partition === 0)?.offset;
      return offset !== undefined && offset !== '-1' ? offset : undefined;
    }, 30_000);
    assert.equal(settled, '5');
  });
});
