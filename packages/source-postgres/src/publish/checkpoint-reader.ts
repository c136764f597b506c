import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { ConnectionError, type Logger } from '@walrelay/core';
import { decodeCheckpoint, type SourceCheckpoint } from './checkpoint.js';

/**
 * Reads the latest checkpoint of `slot` from the compacted checkpoint topic with a
 * read_committed consumer, up to the topic's end. Call after the transactional
 * producer's initTransactions(): that aborts a fenced predecessor's open transaction,
 * so the end is stable.
 */
export async function readCheckpoint(
  kafka: Kafka,
  topic: string,
  slot: string,
  log: Logger,
  timeoutMs = 60_000,
): Promise<SourceCheckpoint | null> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return null;

  const consumer = kafka.consumer({
    groupId: `walrelay-checkpoint-reader-${randomUUID()}`,
    readUncommitted: false,
    allowAutoTopicCreation: false,
  });
  let latest: SourceCheckpoint | null = null;
  const pending = new Set(ends.keys());
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const reached = (partition: number, lastOffset: string | undefined): void => {
    const end = ends.get(partition);
    if (end !== undefined && lastOffset !== undefined && BigInt(lastOffset) + 1n >= end) {
      pending.delete(partition);
      if (pending.size === 0) finish();
    }
  };
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const p = e.payload as { partition: number; lastOffset?: string; offsetLagLow?: string };
    reached(p.partition, p.lastOffset);
    if (p.offsetLagLow === '0') reached(p.partition, (ends.get(p.partition)! - 1n).toString());
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (message.key?.toString('utf8') !== slot) return;
        // A tombstone (walrelay drop-source) removes the slot's checkpoint.
        latest = message.value && message.value.length > 0 ? decodeCheckpoint(message.value) : null;
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ConnectionError('kafka', `could not read the checkpoint topic ${topic} to its end within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch((e: Error) => log.warn({ err: e.message }, 'checkpoint reader disconnect failed'));
  }
  return latest;
}
