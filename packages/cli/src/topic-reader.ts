import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { ConnectionError } from '@walrelay/core';

/** Offsets [from, to) of one partition to read. */
export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly from: bigint;
  /** Exclusive end (a high watermark, or one past the last offset wanted). */
  readonly to: bigint;
}

/**
 * Reads the given offset ranges with a read_committed consumer of a throw-away group (it
 * commits nothing), calling `onMessage` in offset order per partition. Ends when every
 * range is read to its end (control records and aborted transactions count as read), or
 * fails with a ConnectionError after `timeoutMs`.
 */
export async function readRanges(
  kafka: Kafka,
  ranges: readonly PartitionRange[],
  onMessage: (topic: string, partition: number, message: KafkaMessage) => void,
  timeoutMs: number,
): Promise<void> {
  const wanted = ranges.filter((r) => r.to > r.from);
  if (wanted.length === 0) return;
  const key = (t: string, p: number): string => `${t}\u0000${p}`;
  const byKey = new Map(wanted.map((r) => [key(r.topic, r.partition), r]));
  const pending = new Set(byKey.keys());
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const reached = (topic: string, partition: number, offset: bigint): void => {
    const k = key(topic, partition);
    const r = byKey.get(k);
    if (r && offset + 1n >= r.to && pending.delete(k) && pending.size === 0) finish();
  };
  const consumer = kafka.consumer({ groupId: `walrelay-cli-${randomUUID()}`, readUncommitted: false, allowAutoTopicCreation: false });
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const p = e.payload as { topic: string; partition: number; lastOffset?: string; offsetLagLow?: string };
    if (p.lastOffset !== undefined) reached(p.topic, p.partition, BigInt(p.lastOffset));
    const r = byKey.get(key(p.topic, p.partition));
    // Nothing left below the high watermark (what remains are control records).
    if (r && p.offsetLagLow === '0') reached(p.topic, p.partition, r.to - 1n);
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assignment = (e.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
    for (const [topic, partitions] of Object.entries(assignment)) {
      const other = partitions.filter((p) => !byKey.has(key(topic, p)));
      if (other.length > 0) consumer.pause([{ topic, partitions: other }]);
    }
    for (const r of wanted) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from.toString() });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(wanted.map((r) => r.topic))], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const r = byKey.get(key(topic, partition));
        if (!r) return;
        const o = BigInt(message.offset);
        if (o >= r.from && o < r.to && pending.has(key(topic, partition))) onMessage(topic, partition, message);
        reached(topic, partition, o);
      },
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectionError('kafka', `could not read ${[...pending].map((k) => k.replace('\u0000', '/')).join(', ')} within ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
}
