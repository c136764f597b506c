import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Admin, Kafka } from 'kafkajs';
import {
  backoffDelay,
  checkpointTopic,
  ConfigError,
  ConnectionError,
  createKafka,
  errorMessage,
  FailureStreak,
  formatLsn,
  parseLsn,
  InternalError,
  isRetriable,
  kafkaCompressionType,
  kafkaReason,
  redactUrl,
  ReplicationError,
  registryClientFromConfig,
  tlsOptions,
  type Logger,
  type Lsn,
  type Registry,
} from '@walrelay/core';
import type { SourceConfig } from './config.js';
import { pgClient, quotePgIdent, ReplicationConnection, wrapPgError, type PgConnectionSettings } from './replication/connection.js';
import { TransactionalPublisher } from './publish/publisher.js';
import { TopicManager } from './publish/topics.js';
import { recordDescriber } from './publish/record-description.js';
import { readCheckpoint } from './publish/checkpoint-reader.js';
import { emptyCheckpoint, type KnownTable, type SourceCheckpoint } from './publish/checkpoint.js';
import { checkKeyColumns, refuseTopicCollisions, TableRegistry } from './tables.js';
import { parseKeyColumns } from './key-columns.js';
import { ChangeStream } from './stream.js';
import { runSnapshot } from './snapshot/snapshot.js';
import { publicationTables, type SnapshotTable } from './snapshot/publication.js';
import { IncrementalSnapshots } from './snapshot/incremental.js';
import { parseSignalTable } from './snapshot/signals.js';
import { createLifecycleMetrics, type LifecycleMetrics } from './lifecycle-metrics.js';
import { checkFailover, checkpointFollowsSlot, createSlotCommand, ensureSlotFailover, slotLostError } from './slot-lifecycle.js';
import { ensurePublication } from './publication.js';
import { publishResync } from './slot-resync.js';
import { createSourceMetrics, type SourceMetrics } from './metrics.js';
import { SourceHeartbeat } from './heartbeat/heartbeat.js';
import { registerSlotWalMetrics } from './heartbeat/slot-wal-metrics.js';

export const SOURCE_VERSION = '0.1.0';

export type SourceState = 'starting' | 'standby' | 'snapshot' | 'streaming' | 'stopping' | 'stopped' | 'failed';

/**
 * walrelay-source: one process per replication slot. Runs until stop(); restarts
 * its pipeline from the Kafka checkpoint after retriable failures.
 */
export class Source {
  readonly #config: SourceConfig;
  readonly #log: Logger;
  readonly #metrics: SourceMetrics;
  readonly #lifecycle: LifecycleMetrics;
  readonly #pg: PgConnectionSettings;
  readonly #abort = new AbortController();
  #state: SourceState = 'starting';
  #stream: ChangeStream | undefined;
  #lastError: string | undefined;
  #closers: (() => Promise<void>)[] = [];
  readonly #heartbeat: SourceHeartbeat;
  /** Restarts without progress; identical ones in a row make /healthz report a stall. */
  readonly #failures = new FailureStreak(3);
  /** The stream's confirmed LSN at the last failure, and the stream watched for progress since. */
  #failedAtLsn: Lsn = 0n;
  #watched: { stream: ChangeStream; since: number } | undefined;

  constructor(config: SourceConfig, log: Logger, registry: Registry) {
    this.#config = config;
    this.#log = log;
    this.#metrics = createSourceMetrics(registry);
    this.#lifecycle = createLifecycleMetrics(registry);
    this.#pg = { url: config.postgres.url, ...(config.postgres.ssl !== undefined ? { ssl: pgSsl(config.postgres.ssl) } : {}) };
    this.#heartbeat = new SourceHeartbeat(config.heartbeat, this.#pg, log, registry);
    registerSlotWalMetrics(config.slot, this.#pg, registry);
  }

  get state(): SourceState {
    return this.#state;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** For /healthz: the loop is alive unless it has failed or a stream stopped turning. */
  live(): boolean {
    if (this.#state === 'failed') return false;
    if (this.stalled !== undefined) return false;
    return !(this.#state === 'streaming' && this.#stream && this.#stream.idleMs > 5 * 60_000);
  }

  /** Why the source is stalled: the same failure `3` times in a row without progress. */
  get stalled(): string | undefined {
    this.#checkProgress();
    return this.#failures.stalled;
  }

  /** For /readyz: streaming, and not in a streak of failures. */
  readiness(): { ready: boolean; reason: string } {
    this.#checkProgress();
    if (this.#failures.count > 0) return { ready: false, reason: `${this.#state}: ${this.#failures.stalled ?? `restarting after: ${this.#failures.lastReason}`}` };
    return { ready: this.#state === 'streaming', reason: this.#state + (this.#lastError ? `: ${this.#lastError}` : '') };
  }

  /** A failure streak ends when the stream confirms past where it last failed, or streams for a minute. */
  #checkProgress(): void {
    if (this.#failures.count === 0) return;
    const stream = this.#stream;
    if (!stream || this.#state !== 'streaming') return;
    if (this.#watched?.stream !== stream) this.#watched = { stream, since: Date.now() };
    if (stream.confirmedLsn > this.#failedAtLsn || Date.now() - this.#watched.since > 60_000) {
      this.#failures.progressed();
      this.#lastError = undefined;
    }
  }

  stop(): void {
    if (this.#abort.signal.aborted) return;
    this.#log.info('stopping: finishing the Kafka transaction in hand');
    this.#state = 'stopping';
    this.#abort.abort();
    this.#stream?.stop();
  }

  async run(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#runOnce();
        this.#state = 'stopped';
        return;
      } catch (e) {
        this.#lastError = errorMessage(e);
        if (this.#abort.signal.aborted) {
          this.#state = 'stopped';
          return;
        }
        if (!isRetriable(e) && !pgConnectionLost(e)) {
          this.#state = 'failed';
          throw e;
        }
        this.#checkProgress();
        const inARow = this.#failures.failed(errorMessage(e));
        this.#failedAtLsn = this.#stream?.confirmedLsn ?? this.#failedAtLsn;
        const delay = backoffDelay(Math.min(attempt, 6), 500, 15_000);
        this.#log.warn({ err: errorMessage(e), code: (e as { code?: unknown }).code, retryInMs: delay, inARow }, 'source pipeline failed; restarting from the last checkpoint');
        this.#state = 'starting';
        await sleep(delay, undefined, { signal: this.#abort.signal }).catch(() => undefined);
        if (this.#abort.signal.aborted) {
          this.#state = 'stopped';
          return;
        }
      } finally {
        await this.#closeAll();
      }
    }
  }

  async #closeAll(): Promise<void> {
    const closers = this.#closers.reverse();
    this.#closers = [];
    for (const close of closers) await close().catch((e: unknown) => this.#log.debug({ err: errorMessage(e) }, 'close failed'));
    this.#stream = undefined;
  }

  async #runOnce(): Promise<void> {
    const cfg = this.#config;
    const log = this.#log;
    // 1. PostgreSQL: preflight and the per-slot lock (hot standby waits here).
    const catalog = pgClient(this.#pg, false, 'walrelay-source-catalog', false);
    try {
      await catalog.connect();
    } catch (e) {
      throw wrapPgError(`PostgreSQL at ${redactUrl(cfg.postgres.url)} unreachable`, e);
    }
    catalog.on('error', (e) => log.warn({ err: e.message }, 'catalog connection error'));
    this.#closers.push(() => catalog.end());
    await preflight(catalog, cfg.slot);
    await this.#acquireSlotLock(catalog);
    this.#metrics.active.set(1);

    // 2. Kafka and the registry are reached before anything is created.
    const kafka = createKafka(cfg.kafka, log, `walrelay-source-${cfg.slot}`);
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (e) {
      throw new ConnectionError('kafka', `brokers ${cfg.kafka.brokers.join(',')} unreachable: ${kafkaReason(e)}`, { cause: e });
    }
    this.#closers.push(() => admin.disconnect());
    const registry = registryClientFromConfig(cfg.schemaRegistry);
    this.#closers.push(async () => registry.close());
    await registry.versions('__walrelay_startup_check__');

    // 3. Publication; Kafka: topics, the transactional producer (fences a predecessor), checkpoint.
    const keyColumns = parseKeyColumns(cfg.keyColumns);
    await checkKeyColumns(catalog, keyColumns);
    await ensurePublication(catalog, cfg.publication, cfg.tables, log, parseSignalTable(cfg.incremental.signalTable), keyColumns);
    await refuseTopicCollisions(catalog, cfg.publication, cfg.topicPrefix, keyColumns);
    this.#closers.push(await this.#heartbeat.start());
    const topics = new TopicManager(admin, cfg.topics, log);
    const cpTopic = checkpointTopic(cfg.topicPrefix);
    await topics.ensureCheckpointTopic(cpTopic);
    const publisher = new TransactionalPublisher(
      kafka,
      {
        transactionalId: `walrelay-source-${cfg.topicPrefix}-${cfg.slot}`,
        checkpointTopic: cpTopic,
        sendEveryRecords: cfg.transactions.sendEveryRecords,
        sendEveryBytes: Math.min(cfg.transactions.maxBytes, 4 * 1024 * 1024),
        transactionTimeoutMs: cfg.transactions.timeoutMs,
        compression: kafkaCompressionType(cfg.kafka.compression),
      },
      log,
    );
    publisher.onSend = (_records, _bytes, ms) => this.#metrics.produceLatency.observe(ms / 1000);
    publisher.onWait = (on, ms) => this.#metrics.waits.add(on, ms);
    publisher.topicLimits = topics;
    publisher.describeRecord = recordDescriber(registry);
    await publisher.connect();
    this.#closers.push(async () => {
      await publisher.abort().catch(() => undefined);
      await publisher.disconnect();
    });
    const storedCheckpoint = await readCheckpoint(kafka, cpTopic, cfg.slot, log);
    const stored = storedCheckpoint !== null;
    let checkpoint: SourceCheckpoint = storedCheckpoint ?? emptyCheckpoint(cfg.slot);
    log.info(
      { commitLsn: formatLsn(checkpoint.commitLsn), endLsn: formatLsn(checkpoint.endLsn), partial: checkpoint.partialFinalLsn !== null, snapshot: checkpoint.snapshot },
      'checkpoint read',
    );

    const tables = new TableRegistry(catalog, registry, topics, { topicPrefix: cfg.topicPrefix, format: cfg.format, keyColumns }, log);
    const database = (await catalog.query('SELECT current_database() AS db')).rows[0].db as string;
    const protocolVersion = await protocolVersionFor(catalog);
    const connectorName = cfg.connectorName ?? cfg.topicPrefix;

    // 4. Slot: create (with snapshot) or reuse — the snapshot owed is durable before the slot exists.
    const serverVersion = Number((await catalog.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v);
    if (cfg.slotFailover) await checkFailover(catalog, cfg.slot);
    const signalTable = parseSignalTable(cfg.incremental.signalTable);
    let slot = await slotInfo(catalog, cfg.slot);
    // A resync decided earlier whose markers are not published yet is redone (slot-resync.ts).
    let resync = checkpoint.resyncOwed === true;
    if (!slot && !resync && checkpointFollowsSlot(checkpoint, stored)) {
      if (cfg.onSlotLost !== 'resync') {
        this.#lifecycle.slotLost.set(1);
        const err = slotLostError(cfg.slot, database, checkpoint);
        log.error({ slot: cfg.slot, endLsn: formatLsn(checkpoint.endLsn), slotCreatedMs: checkpoint.slotCreatedMs?.toString() ?? null }, err.message);
        throw err;
      }
      log.warn(
        { slot: cfg.slot, endLsn: formatLsn(checkpoint.endLsn), slotCreatedMs: checkpoint.slotCreatedMs?.toString() ?? null },
        `replication slot ${cfg.slot} is gone but the Kafka checkpoint follows it: onSlotLost resync — creating it again, truncating every captured table in the targets and reading each again`,
      );
      this.#lifecycle.slotResyncs.inc();
      resync = true;
      checkpoint = { ...checkpoint, resyncOwed: true };
      await publisher.commit(checkpoint);
    }
    this.#lifecycle.slotLost.set(0);
    let resumeInitial = false;
    if (slot && !resync) {
      if (checkpoint.snapshot === 'RUNNING' && (checkpoint.snapshotConsistentLsn === null || checkpoint.slotCreatedMs == null || cfg.snapshot === 'initial_only')) {
        // Nothing was published from this slot (no consistent point recorded), a RUNNING
        // checkpoint of walrelay 0.1 (no per-table progress to resume from), or initial_only
        // (which does not stream): take the snapshot again from a new slot.
        log.warn({ slot: cfg.slot }, 'the initial snapshot did not get going: dropping the slot and taking the snapshot again');
        await dropSlot(catalog, cfg.slot, log);
        slot = null;
      } else if (checkpoint.snapshot === 'RUNNING') {
        resumeInitial = true;
        const owed = (checkpoint.incremental ?? []).filter((e) => e.reason === 'initial');
        log.warn(
          { slot: cfg.slot, consistentPoint: formatLsn(checkpoint.snapshotConsistentLsn!), tables: owed.map((e) => ({ table: `${e.schema}.${e.table}`, lastKey: e.lastKey, rows: Number(e.rows) })) },
          'the initial snapshot did not finish: keeping the slot, streaming from its consistent point and reading the unfinished tables incrementally after the last key published',
        );
      } else if (!stored && cfg.snapshot !== 'never') {
        // A slot with no checkpoint at all: nothing records that its snapshot was published.
        log.warn({ slot: cfg.slot }, 'the slot exists but no Kafka checkpoint records its snapshot: dropping it and taking the initial snapshot');
        await dropSlot(catalog, cfg.slot, log);
        slot = null;
      }
    }
    const repl = new ReplicationConnection(this.#pg, `walrelay-source-${cfg.slot}`, log);
    await repl.connect();
    this.#closers.push(() => repl.close());
    if (slot && cfg.slotFailover) await ensureSlotFailover(catalog, cfg.slot, (sql) => repl.command(sql), log);
    let start: Lsn = checkpoint.endLsn;
    const slotCommand = (exportSnapshot: boolean): string => createSlotCommand(cfg.slot, { exportSnapshot, failover: cfg.slotFailover, serverVersion });
    const knownOf = (list: readonly SnapshotTable[]): KnownTable[] =>
      list.filter((t) => !(t.schema === signalTable.schema && t.table === signalTable.table)).map((t) => ({ schema: t.schema, table: t.table }));
    if (resync) {
      const list = (await publicationTables(catalog, cfg.publication)).filter((t) => !(t.schema === signalTable.schema && t.table === signalTable.table));
      let at: Lsn;
      if (!slot) {
        const created = await repl.createSlot(cfg.slot, false, slotCommand(false));
        log.info({ slot: cfg.slot, consistentPoint: formatLsn(created.consistentPoint) }, 'created replication slot for the resync');
        // Fault injection for the end-to-end test of this window (test/e2e/slot-resync.test.ts):
        // a crash after the slot exists and before the markers are published.
        if (process.env.WALRELAY_FAULT_INJECTION === 'crash-after-resync-slot') {
          log.warn('fault injection: crashing after creating the resync slot');
          process.kill(process.pid, 'SIGKILL');
        }
        at = created.consistentPoint;
      } else {
        // Created by a run that failed before publishing the markers: nothing was confirmed since.
        at = slot.confirmedFlush ? parseLsn(slot.confirmedFlush) : checkpoint.endLsn;
      }
      checkpoint = await publishResync(tables, publisher, checkpoint, list, at, { connectorName, database, version: SOURCE_VERSION }, log);
      start = at;
    } else if (!slot) {
      const list = (await publicationTables(catalog, cfg.publication)).filter((t) => !(t.schema === signalTable.schema && t.table === signalTable.table));
      if (cfg.snapshot === 'never') {
        const created = await repl.createSlot(cfg.slot, false, slotCommand(false));
        log.info({ slot: cfg.slot, consistentPoint: formatLsn(created.consistentPoint) }, 'created replication slot (no snapshot)');
        start = created.consistentPoint;
        checkpoint = { ...emptyCheckpoint(cfg.slot), endLsn: created.consistentPoint, slotCreatedMs: BigInt(Date.now()), knownTables: knownOf(list) };
        await publisher.commit(checkpoint);
      } else {
        // The snapshot is owed from here on, whatever fails next.
        checkpoint = { ...emptyCheckpoint(cfg.slot), snapshot: 'RUNNING', snapshotConsistentLsn: null, knownTables: knownOf(list) };
        await publisher.commit(checkpoint);
        const created = await repl.createSlot(cfg.slot, true, slotCommand(true));
        log.info({ slot: cfg.slot, consistentPoint: formatLsn(created.consistentPoint), snapshot: created.snapshotName }, 'created replication slot with an exported snapshot');
        this.#state = 'snapshot';
        checkpoint = { ...checkpoint, endLsn: created.consistentPoint, slotCreatedMs: BigInt(Date.now()) };
        const rows = await runSnapshot(
          this.#pg,
          list,
          tables,
          publisher,
          checkpoint,
          {
            snapshotName: created.snapshotName ?? '',
            consistentPoint: created.consistentPoint,
            parallelism: cfg.snapshotParallelism,
            fetchRows: cfg.snapshotFetchRows,
            maxChanges: cfg.transactions.maxChanges,
            connectorName,
            database,
            version: SOURCE_VERSION,
          },
          this.#metrics,
          log,
          this.#abort.signal,
        );
        checkpoint = { ...checkpoint, snapshot: 'DONE', snapshotConsistentLsn: created.consistentPoint, incremental: [] };
        await publisher.commit(checkpoint);
        log.info({ rows }, 'snapshot published');
        start = created.consistentPoint;
        if (cfg.snapshot === 'initial_only') {
          await repl.close();
          await dropSlot(catalog, cfg.slot, log);
          log.info('snapshot mode initial_only: snapshot done, slot dropped, exiting');
          return;
        }
      }
    } else if (cfg.snapshot === 'initial_only') {
      throw new ConfigError(`snapshot mode initial_only, but slot ${cfg.slot} already exists: drop it or choose initial/never`);
    }
    if (checkpoint.knownTables == null || (resumeInitial && !(checkpoint.incremental ?? []).some((e) => e.reason === 'initial'))) {
      // A checkpoint of walrelay 0.1 (no table list: the publication's tables now are taken
      // as read), or an initial snapshot whose last table finished just before the failure.
      checkpoint = {
        ...checkpoint,
        knownTables: checkpoint.knownTables ?? knownOf(await publicationTables(catalog, cfg.publication)),
        ...(checkpoint.snapshot === 'RUNNING' && !(checkpoint.incremental ?? []).some((e) => e.reason === 'initial') ? { snapshot: 'DONE' as const } : {}),
      };
      await publisher.commit(checkpoint);
    }
    if (this.#abort.signal.aborted) return;

    // 5. Stream, with incremental snapshots beside it.
    this.#state = 'streaming';
    const incremental = new IncrementalSnapshots(
      this.#pg,
      tables,
      { incremental: checkpoint.incremental ?? [], knownTables: checkpoint.knownTables ?? null, snapshot: checkpoint.snapshot },
      {
        slot: cfg.slot,
        publication: cfg.publication,
        chunkSize: cfg.incremental.chunkSize,
        newTables: cfg.incremental.newTables,
        newTablesPollMs: cfg.incremental.newTablesPollMs,
        signalTable,
      },
      this.#lifecycle,
      log,
    );
    // ADD COLUMN … DEFAULT: existing rows get a value no WAL carries; read the table again.
    tables.onColumnsFilledByDefault = (t) => incremental.requestFromStream([{ schema: t.schema, table: t.table }], 'column_default');
    const stream = new ChangeStream(
      repl,
      publisher,
      tables,
      checkpoint,
      {
        slot: cfg.slot,
        publication: cfg.publication,
        protocolVersion,
        connectorName,
        database,
        tombstones: cfg.tombstones,
        maxChanges: cfg.transactions.maxChanges,
        maxBytes: cfg.transactions.maxBytes,
        maxDelayMs: cfg.transactions.maxDelayMs,
        statusIntervalMs: cfg.statusIntervalMs,
        version: SOURCE_VERSION,
        signalTable,
      },
      this.#metrics,
      log,
      incremental,
    );
    this.#stream = stream;
    if (this.#abort.signal.aborted) return;
    const readerStop = new AbortController();
    const reader = incremental.run(readerStop.signal).catch((e: unknown) => {
      stream.fail(e instanceof Error ? e : new InternalError(`incremental snapshot failed: ${String(e)}`));
    });
    try {
      await stream.run(start);
    } finally {
      readerStop.abort();
      await reader;
    }
  }

  /**
   * One active source per slot: a session advisory lock on the catalog connection.
   * A second process waits here (hot standby) and takes over when the first one's
   * connection goes away.
   */
  async #acquireSlotLock(catalog: pg.Client): Promise<void> {
    let announced = false;
    for (;;) {
      const res = await catalog.query("SELECT pg_try_advisory_lock(hashtextextended('walrelay-source:' || $1, 0)) AS ok", [this.#config.slot]);
      if (res.rows[0].ok === true || res.rows[0].ok === 't') {
        if (announced) this.#log.info({ slot: this.#config.slot }, 'the active source went away: taking over');
        // The previous holder's walsender may still be ending.
        await waitSlotInactive(catalog, this.#config.slot, this.#log, this.#abort.signal);
        return;
      }
      if (!announced) {
        this.#log.info({ slot: this.#config.slot }, 'another source is active on this slot: waiting as a hot standby');
        announced = true;
      }
      this.#state = 'standby';
      this.#metrics.active.set(0);
      await sleep(this.#config.standbyPollMs, undefined, { signal: this.#abort.signal }).catch(() => undefined);
      if (this.#abort.signal.aborted) throw new ReplicationError('stopped while waiting as a standby');
    }
  }
}

function pgSsl(ssl: NonNullable<SourceConfig['postgres']['ssl']>): pg.ClientConfig['ssl'] {
  return typeof ssl === 'boolean' ? ssl : tlsOptions(ssl);
}

async function preflight(client: pg.Client, slot: string): Promise<void> {
  const res = await client.query(
    `SELECT current_setting('wal_level') AS wal_level,
            (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS can_replicate,
            current_user AS usr,
            current_setting('server_version_num')::int AS version`,
  );
  const row = res.rows[0] as { wal_level: string; can_replicate: boolean | string; usr: string; version: number | string };
  if (row.wal_level !== 'logical') {
    throw new ReplicationError(
      `PostgreSQL has wal_level = ${row.wal_level}; logical replication needs wal_level = logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)`,
    );
  }
  if (!(row.can_replicate === true || row.can_replicate === 't')) {
    throw new ReplicationError(`role ${row.usr} lacks the REPLICATION attribute: ALTER ROLE ${quotePgIdent(row.usr)} REPLICATION`);
  }
  if (Number(row.version) < 140000) {
    throw new ReplicationError(`PostgreSQL ${row.version} is older than 14, which walrelay needs (slot ${slot})`);
  }
}

async function protocolVersionFor(client: pg.Client): Promise<number> {
  const v = Number((await client.query("SELECT current_setting('server_version_num')::int AS v")).rows[0].v);
  // Highest pgoutput protocol the server speaks. Streaming and two-phase stay off:
  // walrelay publishes committed transactions only.
  if (v >= 160000) return 4;
  if (v >= 150000) return 3;
  return 2;
}

interface SlotRow {
  readonly active: boolean;
  readonly plugin: string | null;
  readonly confirmedFlush: string | null;
}

async function slotInfo(client: pg.Client, slot: string): Promise<SlotRow | null> {
  const res = await client.query('SELECT active, plugin, confirmed_flush_lsn::text AS cf, slot_type FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()', [slot]);
  if (res.rows.length === 0) {
    const other = await client.query('SELECT database FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (other.rows.length > 0) throw new ReplicationError(`replication slot ${slot} exists but belongs to database ${other.rows[0].database}`);
    return null;
  }
  const row = res.rows[0] as { active: boolean | string; plugin: string | null; cf: string | null; slot_type: string };
  if (row.slot_type !== 'logical' || row.plugin !== 'pgoutput') {
    throw new ReplicationError(`replication slot ${slot} exists but is a ${row.slot_type} slot with plugin ${row.plugin}, not a pgoutput logical slot`);
  }
  return { active: row.active === true || row.active === 't', plugin: row.plugin, confirmedFlush: row.cf };
}

async function waitSlotInactive(client: pg.Client, slot: string, log: Logger, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 60_000;
  let warned = false;
  for (;;) {
    const res = await client.query('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]);
    if (res.rows.length === 0) return;
    if (Date.now() > deadline) {
      throw new ReplicationError(
        `replication slot ${slot} is in use by backend ${res.rows[0].active_pid}, which is not a walrelay source holding the lock; stop that client (SELECT pg_terminate_backend(${res.rows[0].active_pid}))`,
        { retriable: true },
      );
    }
    if (!warned) {
      log.info({ slot, pid: res.rows[0].active_pid }, 'waiting for the previous walsender of the slot to end');
      warned = true;
    }
    await sleep(250, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return;
  }
}

async function dropSlot(client: pg.Client, slot: string, log: Logger): Promise<void> {
  await waitSlotInactive(client, slot, log, new AbortController().signal);
  await client.query('SELECT pg_drop_replication_slot($1) WHERE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)', [slot]);
}

export type { Kafka, Admin };

/**
 * A PostgreSQL restart or failover: node-postgres reports the lost server with code-less
 * errors ("Connection terminated unexpectedly", "Client has encountered a connection error
 * and is not queryable") or 57P01-57P03, or a walrelay error wrapping a socket error
 * (EPIPE, ECONNRESET…). The pipeline resumes from its checkpoint.
 */
function pgConnectionLost(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    const code = (x as { code?: unknown }).code;
    if (code === '57P01' || code === '57P02' || code === '57P03') return true;
    if (/Connection terminated|not queryable|terminating connection/i.test(x.message)) return true;
    // A wrapped socket error (e.g. START_REPLICATION: write EPIPE while the server restarts).
    if (depth > 0 && isRetriable(x)) return true;
  }
  return false;
}
