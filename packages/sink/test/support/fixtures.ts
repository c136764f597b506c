import { avroType, createLogger, deriveChangeSchemas, encodeAvro, frame, Registry, type Op, type SchemaColumn, type TableShape } from '@walrelay/core';
import { sinkConfigSchema, type SinkConfig } from '../../src/config.js';
import { createSinkMetrics, type SinkMetrics } from '../../src/metrics.js';
import { RecordDecoder, TRUNCATE_HEADER } from '../../src/record-decoder.js';
import type { SourceRecord } from '../../src/runtime/record-source.js';
import { RestartPolicy } from '../../src/runtime/restart-policy.js';
import { SinkRuntime } from '../../src/runtime/sink-runtime.js';
import type { TargetDriver } from '../../src/target.js';
import { EventLog } from './event-log.js';
import { MemoryDeadLetters, MemoryGroup, MemoryLog, MemorySource } from './memory-source.js';

/** A schema registry in memory (ids and subjects), enough for RecordDecoder. */
export class MemorySchemas {
  readonly #byId = new Map<number, string>();
  readonly #latest = new Map<string, number>();
  lookups = 0;

  register(subject: string, schema: string): number {
    for (const [id, s] of this.#byId) {
      if (s === schema) {
        this.#latest.set(subject, id);
        return id;
      }
    }
    const id = this.#byId.size + 1;
    this.#byId.set(id, schema);
    this.#latest.set(subject, id);
    return id;
  }

  async schemaById(id: number): Promise<string> {
    this.lookups++;
    const s = this.#byId.get(id);
    if (s === undefined) throw new Error(`unknown schema id ${id}`);
    return s;
  }

  async latest(subject: string): Promise<{ id: number; schema: string } | null> {
    const id = this.#latest.get(subject);
    return id === undefined ? null : { id, schema: this.#byId.get(id)! };
  }
}

export function column(name: string, kind: SchemaColumn['kind'], key: number | null = null): SchemaColumn {
  return { name, field: name, kind, pgType: kind === 'int64' ? 'int8' : 'text', typmod: -1, nullable: key === null, key };
}

/** A source table's topic: encodes its changes as the source would (Confluent-framed Avro). */
export class TableTopic {
  readonly topic: string;
  readonly shape: TableShape;
  readonly #keyType;
  readonly #valueType;
  readonly #keyId: number;
  readonly #valueId: number;
  #lsn = 1000n;

  constructor(schemas: MemorySchemas, topic: string, shape: TableShape) {
    this.topic = topic;
    this.shape = shape;
    const s = deriveChangeSchemas(topic, shape);
    this.#keyType = avroType(s.key);
    this.#valueType = avroType(s.value);
    this.#keyId = schemas.register(`${topic}-key`, s.key);
    this.#valueId = schemas.register(`${topic}-value`, s.value);
  }

  #source(): Record<string, unknown> {
    this.#lsn += 10n;
    return {
      version: 'test', connector: 'postgresql', name: 'test', ts_ms: 0n, ts_us: null, snapshot: 'false', db: 'db',
      sequence: null, schema: this.shape.schema, table: this.shape.table, txId: null, lsn: this.#lsn, commit_lsn: this.#lsn, tx_seq: null, xmin: null,
    };
  }

  #key(row: Record<string, unknown>): Buffer {
    const key: Record<string, unknown> = {};
    for (const c of this.shape.columns) if (c.key !== null) key[c.field] = row[c.field];
    return frame(this.#keyId, encodeAvro(this.#keyType, key));
  }

  /** A create/update (`row` holds every column) or a delete (`row` holds the key); `source` overrides source-block fields. */
  change(op: Op, row: Record<string, unknown>, source: Record<string, unknown> = {}): Omit<SourceRecord, 'offset'> {
    const full = Object.fromEntries(this.shape.columns.map((c) => [c.field, row[c.field] ?? null]));
    const envelope = { before: op === 'd' ? full : null, after: op === 'd' ? null : full, source: { ...this.#source(), ...source }, op, ts_ms: null, unchanged_toast: [] };
    return { key: this.#key(row), value: frame(this.#valueId, encodeAvro(this.#valueType, envelope)), headers: {} };
  }

  /** The truncate marker of one partition of `partitions`. */
  marker(partitions: number, lsn?: bigint): Omit<SourceRecord, 'offset'> {
    const source = { ...this.#source(), ...(lsn !== undefined ? { lsn, commit_lsn: lsn } : {}) };
    const envelope = { before: null, after: null, source, op: 't', ts_ms: null, unchanged_toast: [] };
    return { key: Buffer.from('__walrelay_truncate__'), value: frame(this.#valueId, encodeAvro(this.#valueType, envelope)), headers: { [TRUNCATE_HEADER]: String(partitions) } };
  }
}

export function testConfig(extra: Record<string, unknown> = {}): SinkConfig {
  return sinkConfigSchema('memory', 'memory').parse({ topicPrefix: 't', groupId: 'g', retry: { initialMs: 1, maxMs: 4 }, ...extra });
}

export const silent = createLogger('sink-test', process.env['WALRELAY_TEST_LOG'] ?? 'silent');

/** One sink process in a test: the runtime on a memory source of a shared group. */
export interface TestSink {
  readonly runtime: SinkRuntime;
  readonly source: MemorySource;
  readonly deadLetters: MemoryDeadLetters;
  readonly metrics: SinkMetrics;
  readonly registry: Registry;
  readonly running: Promise<void>;
  /** How run() ended: undefined while it runs. */
  outcome(): { error?: unknown } | undefined;
}

export function startSink(options: { driver: TargetDriver; group: MemoryGroup; schemas: MemorySchemas; config?: SinkConfig; maxBatch?: number }): TestSink {
  const registry = new Registry();
  const metrics = createSinkMetrics(registry);
  const source = new MemorySource(options.group, options.maxBatch);
  const deadLetters = new MemoryDeadLetters();
  const config = options.config ?? testConfig();
  const runtime = new SinkRuntime({
    config,
    driver: options.driver,
    log: silent,
    metrics,
    policy: new RestartPolicy(config.retry, async () => undefined),
    barrierPollMs: 5,
    open: async () => ({ source, decoder: new RecordDecoder(options.schemas), ...(config.onError === 'dlq' ? { deadLetters } : {}), close: async () => undefined }),
  });
  let outcome: { error?: unknown } | undefined;
  const running = runtime.run().then(
    () => void (outcome = {}),
    (error: unknown) => void (outcome = { error }),
  );
  return { runtime, source, deadLetters, metrics, registry, running, outcome: () => outcome };
}

export function world(): { events: EventLog; log: MemoryLog; group: MemoryGroup; schemas: MemorySchemas } {
  const events = new EventLog();
  const log = new MemoryLog();
  return { events, log, group: new MemoryGroup(log, events), schemas: new MemorySchemas() };
}

export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
