import { errorMessage, valueSubject, type Logger, type TableShape } from '@walrelay/core';
import type { SinkConfig } from '../config.js';
import type { SinkMetrics } from '../metrics.js';
import type { TargetDriver } from '../target.js';
import { DeadLetters } from './dead-letters.js';
import { OffsetsStore } from './offsets-store.js';
import { PartitionApplier, type RecordDecoding } from './partition-applier.js';
import type { DeadLetterWriter, RecordSource } from './record-source.js';
import { RestartPolicy, StopSignal, TopicsChanged } from './restart-policy.js';
import { TargetTables } from './table-ddl.js';
import { TruncateBarrier } from './truncate-barrier.js';

export type SinkState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** What one session (one start of the consumer) runs on; opened anew after every restart. */
export interface SinkSession {
  readonly source: RecordSource;
  readonly decoder: RecordDecoding;
  /** Present when onError is dlq. */
  readonly deadLetters?: DeadLetterWriter;
  /** Releases what open() created besides the source and the dead-letter writer (e.g. the registry client). */
  close(): Promise<void>;
}

export interface SinkRuntimeOptions {
  readonly config: SinkConfig;
  readonly driver: TargetDriver;
  readonly log: Logger;
  readonly metrics: SinkMetrics;
  /** Opens a session: record source, decoder and dead-letter writer. */
  readonly open: () => Promise<SinkSession>;
  readonly policy?: RestartPolicy;
  /** How often a partition waiting at a truncate re-reads the barrier rows (default 250 ms). */
  readonly barrierPollMs?: number;
}

/**
 * The sink runtime: wires the parts together for each session and restarts sessions by
 * the restart policy. Collaborators (record source, decoder, dead-letter writer, target
 * driver) are passed in, so the whole state machine runs in-process in unit tests.
 */
export class SinkRuntime {
  readonly #o: SinkRuntimeOptions;
  readonly #policy: RestartPolicy;
  readonly #offsets: OffsetsStore;
  /** Kept across sessions: tables created, names claimed and refusals last for the process. */
  readonly #tables: TargetTables;
  #state: SinkState = 'starting';
  #lastError: string | undefined;
  #stopRequested = false;
  #crash: ((e: Error) => void) | undefined;
  #closers: (() => Promise<void>)[] = [];

  constructor(options: SinkRuntimeOptions) {
    this.#o = options;
    this.#policy = options.policy ?? new RestartPolicy(options.config.retry);
    this.#offsets = new OffsetsStore(options.driver, options.config.groupId, options.log);
    this.#tables = new TargetTables(options.driver, options.config.tableNames, options.log, options.metrics);
  }

  get state(): SinkState {
    return this.#state;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Table DDL and refusals (exposed for tests and diagnostics). */
  get tables(): TargetTables {
    return this.#tables;
  }

  live(): boolean {
    return this.#state !== 'failed';
  }

  /** Finish the batch in hand, commit, leave the group. */
  stop(): void {
    if (this.#stopRequested) return;
    this.#stopRequested = true;
    this.#state = 'stopping';
    this.#o.log.info('stopping: finishing the batch in hand');
    this.#crash?.(new StopSignal());
  }

  async run(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#session();
        this.#state = 'stopped';
        return;
      } catch (e) {
        this.#lastError = errorMessage(e);
        const decision = this.#policy.afterSession(e, attempt, this.#stopRequested);
        if (decision.action === 'stop') {
          this.#state = 'stopped';
          return;
        }
        if (decision.action === 'resubscribe') {
          this.#o.log.info({ topics: decision.topics }, 'new table topics appeared: subscribing to them');
          attempt = -1;
          continue;
        }
        if (decision.action === 'fail') {
          this.#state = 'failed';
          throw e;
        }
        this.#o.log.warn({ err: errorMessage(e), retryInMs: decision.delayMs }, 'sink failed; reconnecting and resuming from the offsets stored in the target');
        this.#state = 'starting';
        await this.#policy.wait(decision.delayMs);
      } finally {
        await this.#closeAll();
      }
    }
  }

  async #closeAll(): Promise<void> {
    const closers = this.#closers.reverse();
    this.#closers = [];
    for (const close of closers) await close().catch(() => undefined);
    await this.#o.driver.close().catch(() => undefined);
  }

  async #session(): Promise<void> {
    const { config, driver, log, metrics } = this.#o;
    await driver.connect();
    await driver.ensureOffsetsTable();
    const session = await this.#o.open();
    this.#closers.push(() => session.close());
    if (session.deadLetters) this.#closers.push(() => (session.deadLetters as DeadLetterWriter).close());
    const { source, decoder } = session;
    this.#closers.push(() => source.close());
    // Once the session ends (an error, a stop), no batch is applied any more: one in flight stops at
    // its next chunk, a batch the source still delivers (kafkajs redelivers after a thrown batch)
    // is left for the next session, which starts from the target's offsets.
    let ended = false;
    let crash: (e: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
      crash = (e) => {
        ended = true;
        reject(e);
      };
    });
    this.#crash = crash;
    failed.catch(() => undefined);
    if (this.#stopRequested) crash(new StopSignal());
    const apply = (fn: () => Promise<void>, heartbeat?: () => Promise<void>): Promise<void> =>
      this.#policy.apply(fn, { stopping: () => this.#stopRequested, ...(heartbeat ? { heartbeat } : {}), onRetry: () => metrics.retries.inc(), log });
    const barrier = new TruncateBarrier({ driver, offsets: this.#offsets, tables: this.#tables, apply: (fn) => apply(fn), truncate: config.truncate, metrics, log });
    barrier.attach(source);
    const timer = setInterval(() => barrier.poll(), this.#o.barrierPollMs ?? 250);
    timer.unref();
    this.#closers.push(async () => {
      clearInterval(timer);
      barrier.attach(undefined);
    });
    const applier = new PartitionApplier({
      driver,
      source,
      decoder,
      offsets: this.#offsets,
      tables: this.#tables,
      barrier,
      deadLetters: new DeadLetters({ policy: config.onError, writer: session.deadLetters, metrics, log, sink: driver.dialect, topicPrefix: config.topicPrefix }),
      apply,
      maxRecords: config.batch.maxRecords,
      truncate: config.truncate,
      metrics,
      log,
    });
    let topicsKnown: (topics: readonly string[]) => void = () => undefined;
    this.#tables.claim(new Promise<readonly string[]>((resolve) => (topicsKnown = resolve)), (topic) => latestShape(decoder, topic));
    let topics: readonly string[] = [];
    try {
      topics = await source.start({
        assigned: (assignment) => {
          // A session that ended takes no assignment (its consumer may still be leaving the group),
          // and what fails here ends this session only, never a later one.
          if (ended) return;
          // Batches of the new assignment wait for this (OffsetsStore.ready), so none is
          // applied before the target's offsets are known.
          this.#offsets.assign(source, assignment, () => barrier.reset()).catch((e: unknown) => crash(e as Error));
        },
        batch: (batch, control) => (ended ? Promise.resolve() : applier.batch(batch, { active: () => !ended && control.active(), heartbeat: () => control.heartbeat(), resolve: (offset) => control.resolve(offset) })),
        failed: (e) => crash(e),
      });
    } finally {
      topicsKnown(topics);
    }
    this.#state = 'running';
    if (topics.length === 0) log.info({ prefix: config.topicPrefix }, 'no table topics yet: waiting for the source to create them');
    else log.info({ groupId: config.groupId, topics: [...topics] }, 'sink consuming');
    try {
      await failed;
    } catch (e) {
      if (e instanceof StopSignal || e instanceof TopicsChanged) {
        await source.stop();
        // The batch in hand is finished: its Kafka offset commits go out before the group is left.
        await this.#offsets.flushCommits();
        if (e instanceof TopicsChanged) throw e;
        return;
      }
      throw e;
    }
  }
}

/** A topic's newest shape from the registry; null when it has none or the registry cannot say now. */
async function latestShape(decoder: RecordDecoding, topic: string): Promise<TableShape | null> {
  try {
    return (await decoder.latestShape(valueSubject(topic)))?.shape ?? null;
  } catch {
    return null;
  }
}
