import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { deadLetterTopic, errorMessage, formatLsn, type SchemaRegistryClient } from '@walrelay/core';
import { RecordDecoder } from '@walrelay/sink';
import { readRanges, type PartitionRange } from './topic-reader.js';
import type { TargetOffsetRow, TargetOffsets } from './target-offsets.js';

/** A topic's partitions: [low, high) offsets. */
export interface TopicOffsets {
  readonly topic: string;
  readonly partitions: { readonly partition: number; readonly low: string; readonly high: string }[];
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly high: string;
  /** Offset committed to Kafka by the group (null: none). */
  readonly kafkaOffset: string | null;
  /** The target's stored next offset and source LSN (null: no row). */
  readonly targetOffset: string | null;
  readonly targetLsn: string | null;
  readonly targetUpdatedAt: string | null;
  /** Change records from the group's position to the end (exact up to 1000, estimated beyond). */
  readonly lag: number;
  readonly lagExact: boolean;
  /** Commit time in PostgreSQL of the oldest change not yet applied (null: none pending). */
  readonly oldestPendingCommit: string | null;
}

export interface GroupStatus {
  readonly groupId: string;
  readonly state: string;
  readonly members: { readonly memberId: string; readonly clientId: string; readonly host: string }[];
  readonly target: string | null;
  readonly partitions: PartitionLag[];
  readonly totalLag: number;
  /**
   * The target holds every change committed at or below this LSN: the lowest stored LSN of
   * the partitions that lag, or the highest stored LSN when none lags.
   */
  readonly caughtUpToLsn: string | null;
  /** Now − commit time of the oldest change the target lacks (0 when it lacks none). */
  readonly secondsBehind: number;
  /** The newest change applied: its PostgreSQL commit time and age (heartbeats keep this fresh). */
  readonly lastApplied: { readonly commitTime: string; readonly ageSeconds: number } | null;
  readonly deadLetterTopic: string | null;
  readonly deadLetters: number | null;
  /** Records whose commit time could not be read (offset: reason). */
  readonly undecodable: string[];
}

export async function topicOffsets(admin: Admin, topics: readonly string[]): Promise<TopicOffsets[]> {
  const out: TopicOffsets[] = [];
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    out.push({ topic, partitions: offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition) });
  }
  return out;
}

/** Records in a topic (high − low summed over partitions): for dead-letter topics, which are not compacted. */
export function recordCount(t: TopicOffsets): number {
  return t.partitions.reduce((s, p) => s + Number(BigInt(p.high) - BigInt(p.low)), 0);
}

const EXACT_WINDOW = 1000n;

/** Groups with offsets committed on any of `topics` (walrelay's own throw-away readers left out). */
export async function groupsOnTopics(admin: Admin, topics: readonly string[]): Promise<string[]> {
  if (topics.length === 0) return [];
  const { groups } = await admin.listGroups();
  const found: string[] = [];
  for (const g of groups) {
    if (g.protocolType !== 'consumer' || /^walrelay-(cli|checkpoint-reader)-/.test(g.groupId)) continue;
    const offsets = await admin.fetchOffsets({ groupId: g.groupId, topics: [...topics] });
    if (offsets.some((t) => t.partitions.some((p) => BigInt(p.offset) >= 0n))) found.push(g.groupId);
  }
  return found.sort();
}

export async function groupStatus(
  kafka: Kafka,
  admin: Admin,
  registry: SchemaRegistryClient,
  options: {
    readonly groupId: string;
    readonly prefix: string;
    readonly topics: readonly TopicOffsets[];
    readonly target: TargetOffsets | null;
    readonly dlqTopics: readonly TopicOffsets[];
    readonly timeoutMs: number;
  },
): Promise<GroupStatus> {
  const { groupId, topics, target } = options;
  const described = (await admin.describeGroups([groupId])).groups[0];
  const committed = topics.length > 0 ? await admin.fetchOffsets({ groupId, topics: topics.map((t) => t.topic) }) : [];
  const kafkaOffset = new Map<string, string>();
  for (const t of committed) for (const p of t.partitions) if (BigInt(p.offset) >= 0n) kafkaOffset.set(`${t.topic}/${p.partition}`, p.offset);
  const targetRows = new Map<string, TargetOffsetRow>();
  for (const r of target?.rows ?? []) if (r.groupId === groupId) targetRows.set(`${r.topic}/${r.partition}`, r);

  // Position: the target's stored offset (authoritative), else the Kafka commit, else the start.
  const positions: { topic: string; partition: number; low: bigint; high: bigint; position: bigint; k: string }[] = [];
  for (const t of topics) {
    for (const p of t.partitions) {
      const k = `${t.topic}/${p.partition}`;
      const row = targetRows.get(k);
      const low = BigInt(p.low);
      const pos = row ? row.nextOffset : kafkaOffset.has(k) ? BigInt(kafkaOffset.get(k) as string) : low;
      positions.push({ topic: t.topic, partition: p.partition, low, high: BigInt(p.high), position: pos < low ? low : pos, k });
    }
  }
  // Count what is pending (control records and aborted transactions are not changes) and
  // find the oldest pending change's commit time; read one record before the newest LSN too.
  const decoder = new RecordDecoder(registry);
  const pending = new Map<string, KafkaMessage[]>();
  const ranges: PartitionRange[] = positions
    .filter((p) => p.high > p.position)
    .map((p) => ({ topic: p.topic, partition: p.partition, from: p.position, to: p.high < p.position + EXACT_WINDOW ? p.high : p.position + EXACT_WINDOW }));
  let newest: TargetOffsetRow | undefined;
  for (const r of targetRows.values()) if (r.sourceLsn !== null && (newest?.sourceLsn == null || r.sourceLsn > newest.sourceLsn)) newest = r;
  const lastRange: PartitionRange | undefined =
    newest && newest.nextOffset > 0n ? { topic: newest.topic, partition: newest.partition, from: newest.nextOffset > 5n ? newest.nextOffset - 5n : 0n, to: newest.nextOffset } : undefined;
  const before: KafkaMessage[] = [];
  const all = [...ranges];
  const overlaps = lastRange && ranges.some((r) => r.topic === lastRange.topic && r.partition === lastRange.partition);
  if (lastRange && !overlaps) all.push(lastRange);
  await readRanges(
    kafka,
    all,
    (topic, partition, m) => {
      const o = BigInt(m.offset);
      if (lastRange && topic === lastRange.topic && partition === lastRange.partition && o < lastRange.to) {
        before.push(m);
        return;
      }
      const k = `${topic}/${partition}`;
      const list = pending.get(k) ?? [];
      list.push(m);
      pending.set(k, list);
    },
    options.timeoutMs,
  );
  // A range overlapping the last-applied one: read that partition's last-applied records separately.
  if (lastRange && overlaps) await readRanges(kafka, [lastRange], (_t, _p, m) => before.push(m), options.timeoutMs);

  const undecodable: string[] = [];
  const commitTime = async (m: KafkaMessage): Promise<number | null> => {
    // A record the sink could not decode either (it is the sink's to report) has no commit time here.
    const r = await decoder.decode(m.key, m.value, m.headers as Record<string, unknown>).catch((e: unknown) => {
      undecodable.push(`${m.offset}: ${errorMessage(e)}`);
      return null;
    });
    if (r === null || r.kind === 'tombstone') return null;
    const ts = Number(r.envelope.source.ts_ms);
    return ts > 0 ? ts : null;
  };
  const partitions: PartitionLag[] = [];
  let oldest: number | null = null;
  for (const p of positions) {
    const list = pending.get(p.k) ?? [];
    const windowEnd = p.position + EXACT_WINDOW;
    const exact = p.high <= windowEnd;
    const lag = list.length + (exact ? 0 : Number(p.high - windowEnd));
    let first: number | null = null;
    for (const m of list) {
      first = await commitTime(m);
      if (first !== null) break;
    }
    if (first !== null && (oldest === null || first < oldest)) oldest = first;
    const row = targetRows.get(p.k);
    partitions.push({
      topic: p.topic,
      partition: p.partition,
      high: p.high.toString(),
      kafkaOffset: kafkaOffset.get(p.k) ?? null,
      targetOffset: row ? row.nextOffset.toString() : null,
      targetLsn: row?.sourceLsn == null ? null : formatLsn(row.sourceLsn),
      targetUpdatedAt: row?.updatedAt ?? null,
      lag,
      lagExact: exact,
      oldestPendingCommit: first === null ? null : new Date(first).toISOString(),
    });
  }
  let lastApplied: GroupStatus['lastApplied'] = null;
  for (const m of before.sort((a, b) => Number(BigInt(b.offset) - BigInt(a.offset)))) {
    const ts = await commitTime(m);
    if (ts !== null) {
      lastApplied = { commitTime: new Date(ts).toISOString(), ageSeconds: Math.max(0, (Date.now() - ts) / 1000) };
      break;
    }
  }
  const dlqName = target ? deadLetterTopic(options.prefix, target.dialect) : null;
  const dlq = dlqName ? options.dlqTopics.find((t) => t.topic === dlqName) : undefined;
  return {
    groupId,
    state: described?.state ?? 'Unknown',
    members: (described?.members ?? []).map((m) => ({ memberId: m.memberId, clientId: m.clientId, host: m.clientHost })),
    target: target?.target ?? null,
    partitions,
    totalLag: partitions.reduce((s, p) => s + p.lag, 0),
    caughtUpToLsn: caughtUpTo(partitions, targetRows, newest),
    secondsBehind: oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000),
    lastApplied,
    deadLetterTopic: dlqName,
    undecodable,
    deadLetters: dlqName ? (dlq ? dlq.partitions.reduce((s, p) => s + Number(BigInt(p.high) - BigInt(p.low)), 0) : 0) : null,
  };
}

function caughtUpTo(partitions: readonly PartitionLag[], rows: ReadonlyMap<string, TargetOffsetRow>, newest: TargetOffsetRow | undefined): string | null {
  const lagging = partitions.filter((p) => p.lag > 0);
  if (lagging.length === 0) return newest?.sourceLsn == null ? null : formatLsn(newest.sourceLsn);
  let low: bigint | null = null;
  for (const p of lagging) {
    const lsn = rows.get(`${p.topic}/${p.partition}`)?.sourceLsn ?? null;
    if (lsn === null) return null; // a lagging partition with nothing applied yet: no LSN bound
    if (low === null || lsn < low) low = lsn;
  }
  return low === null ? null : formatLsn(low);
}
