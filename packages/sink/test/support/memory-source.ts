import { isRetriable } from '@walrelay/core';
import type { BatchControl, DeadLetterRecord, DeadLetterWriter, RecordSource, SourceBatch, SourceHandlers, SourceRecord } from '../../src/runtime/record-source.js';
import { EventLog } from './event-log.js';

const tp = (topic: string, partition: number) => `${topic}/${partition}`;

/** Topics with partitions of records, shared by the members of a MemoryGroup. */
export class MemoryLog {
  readonly topics = new Map<string, SourceRecord[][]>();

  create(topic: string, partitions: number): void {
    if (!this.topics.has(topic)) this.topics.set(topic, Array.from({ length: partitions }, () => []));
  }

  append(topic: string, partition: number, record: Omit<SourceRecord, 'offset'>): bigint {
    const p = this.topics.get(topic)?.[partition];
    if (!p) throw new Error(`no partition ${tp(topic, partition)}`);
    const offset = BigInt(p.length);
    p.push({ ...record, offset });
    return offset;
  }

  records(topic: string, partition: number): SourceRecord[] {
    return this.topics.get(topic)?.[partition] ?? [];
  }
}

/** A consumer group over a MemoryLog: assignments, committed offsets. */
export class MemoryGroup {
  readonly log: MemoryLog;
  readonly events: EventLog;
  readonly members: MemorySource[] = [];
  readonly committed = new Map<string, { offset: bigint; metadata: string }>();

  constructor(log: MemoryLog, events: EventLog) {
    this.log = log;
    this.events = events;
  }

  /** New assignment: `plan` per member (topic → partitions), or every partition round-robin. */
  async rebalance(plan?: Map<MemorySource, Record<string, number[]>>): Promise<void> {
    const live = this.members.filter((m) => m.started);
    const assignment = new Map<MemorySource, Map<string, number[]>>(live.map((m) => [m, new Map()]));
    if (plan) {
      for (const [m, a] of plan) assignment.set(m, new Map(Object.entries(a)));
    } else {
      let i = 0;
      for (const [topic, parts] of [...this.log.topics].sort(([a], [b]) => a.localeCompare(b))) {
        for (let p = 0; p < parts.length; p++) {
          const m = live[i++ % live.length];
          if (!m) continue;
          const list = assignment.get(m)!.get(topic) ?? [];
          list.push(p);
          assignment.get(m)!.set(topic, list);
        }
      }
    }
    for (const [m, a] of assignment) m.assign(a);
    // Let the runtimes load their offsets and seek.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }
}

/**
 * A RecordSource over a MemoryLog, driven by the test: `pump()` delivers one batch per
 * assigned, unpaused partition from its position; `fetch` + `deliver` hand a batch over
 * later (a stale batch after a rebalance the member has not seen yet).
 */
export class MemorySource implements RecordSource {
  readonly group: MemoryGroup;
  readonly maxBatch: number;
  started = false;
  handlers: SourceHandlers | undefined;
  readonly positions = new Map<string, bigint>();
  readonly paused = new Set<string>();
  readonly assigned = new Set<string>();
  readonly errors: unknown[] = [];
  readonly seeks: string[] = [];
  /** Offsets this member committed to the group. */
  readonly commits: string[] = [];
  #generation = 0;

  constructor(group: MemoryGroup, maxBatch = 100) {
    this.group = group;
    this.maxBatch = maxBatch;
    group.members.push(this);
  }

  async start(handlers: SourceHandlers): Promise<readonly string[]> {
    this.handlers = handlers;
    this.started = true;
    return [...this.group.log.topics.keys()].sort();
  }

  assign(assignment: Map<string, number[]>): void {
    this.#generation++;
    this.assigned.clear();
    this.positions.clear();
    for (const [topic, parts] of assignment) {
      for (const p of parts) {
        this.assigned.add(tp(topic, p));
        this.positions.set(tp(topic, p), this.group.committed.get(tp(topic, p))?.offset ?? 0n);
      }
    }
    this.handlers?.assigned(new Map([...assignment].map(([t, p]) => [t, [...p]])));
  }

  /** The next batch of a partition from its position (null when there is nothing new). */
  fetch(topic: string, partition: number): SourceBatch | null {
    const from = this.positions.get(tp(topic, partition));
    if (from === undefined) return null;
    const all = this.group.log.records(topic, partition);
    const records = all.slice(Number(from), Number(from) + this.maxBatch);
    if (records.length === 0) return null;
    const last = records[records.length - 1]!.offset;
    return { topic, partition, records, lastOffset: last, lag: all.length - Number(last) - 1 };
  }

  /** Hands a batch to the runtime. `stale: 'unseen'` keeps it active although the assignment changed. */
  async deliver(batch: SourceBatch, options: { unseenRebalance?: boolean } = {}): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) throw new Error('not started');
    const generation = this.#generation;
    const key = tp(batch.topic, batch.partition);
    const control: BatchControl = {
      active: () => this.started && (options.unseenRebalance === true || generation === this.#generation),
      heartbeat: async () => undefined,
      resolve: (offset) => {
        if (generation === this.#generation && this.assigned.has(key)) this.positions.set(key, offset + 1n);
      },
    };
    try {
      await handlers.batch(batch, control);
    } catch (e) {
      this.errors.push(e);
      if (!isRetriable(e)) handlers.failed(e as Error);
    }
  }

  /** One batch for every assigned, unpaused partition; the number delivered. */
  async pump(): Promise<number> {
    let n = 0;
    for (const key of [...this.assigned].sort()) {
      if (this.paused.has(key)) continue;
      const at = key.lastIndexOf('/');
      const batch = this.fetch(key.slice(0, at), Number(key.slice(at + 1)));
      if (!batch) continue;
      n++;
      await this.deliver(batch);
    }
    return n;
  }

  /** Pumps until nothing is left to deliver (or `rounds` pumps). */
  async drain(rounds = 200): Promise<void> {
    for (let i = 0; i < rounds && this.started; i++) if ((await this.pump()) === 0) return;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  pause(topic: string, partition: number): void {
    this.paused.add(tp(topic, partition));
  }

  resume(topic: string, partition: number): void {
    this.paused.delete(tp(topic, partition));
  }

  resumeAll(): void {
    this.paused.clear();
  }

  seek(topic: string, partition: number, offset: bigint): void {
    const key = tp(topic, partition);
    if (!this.assigned.has(key)) return; // as kafkajs: a seek of a partition not assigned is ignored
    this.seeks.push(`${key}@${offset}`);
    this.positions.set(key, offset);
    this.#generation++;
  }

  async commit(topic: string, partition: number, nextOffset: bigint, metadata: string): Promise<void> {
    this.group.committed.set(tp(topic, partition), { offset: nextOffset, metadata });
    this.commits.push(`${tp(topic, partition)}@${nextOffset}`);
    this.group.events.push(`kafka ${tp(topic, partition)}@${nextOffset}`);
  }

  async partitionCount(topic: string): Promise<number> {
    return this.group.log.topics.get(topic)?.length ?? 0;
  }

  async close(): Promise<void> {
    this.started = false;
    this.assigned.clear();
  }
}

/** Dead letters kept in memory. */
export class MemoryDeadLetters implements DeadLetterWriter {
  readonly records: DeadLetterRecord[] = [];
  async send(record: DeadLetterRecord): Promise<void> {
    this.records.push(record);
  }
  async close(): Promise<void> {}
}
