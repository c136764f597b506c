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
  formatLsn,
  isRetriable,
  parseTablesSetting,
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
import { readCheckpoint } from './publish/checkpoint-reader.js';
import { emptyCheckpoint, type SourceCheckpoint } from './publish/checkpoint.js';
import { refuseTopicCollisions, TableRegistry } from './tables.js';
import { ChangeStream } from './stream.js';
import { publicationTables, runSnapshot } from './snapshot/snapshot.js';
import { listCapturableTables } from './catalog.js';
import { createSourceMetrics, type SourceMetrics } from './metrics.js';

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
  readonly #pg: PgConnectionSettings;
  readonly #abort = new AbortController();
  #state: SourceState = 'starting';
  #stream: ChangeStream | undefined;
  #lastError: string | undefined;
  #closers: (() => Promise<void>)[] = [];

  constructor(config: SourceConfig, log: Logger, registry: Registry) {
    this.#config = config;
    this.#log = log;
    this.#metrics = createSourceMetrics(registry);
    this.#pg = { url: config.postgres.url, ...(config.postgres.ssl !== undefined ? { ssl: pgSsl(config.postgres.ssl) } : {}) };
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
    return !(this.#state === 'streaming' && this.#stream && this.#stream.idleMs > 5 * 60_000);
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
        const delay = backoffDelay(Math.min(attempt, 6), 500, 15_000);
        this.#log.warn({ err: errorMessage(e), retryInMs: delay }, 'source pipeline failed; restarting from the last checkpoint');
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

    // 2. Publication.
    await ensurePublication(catalog, cfg.publication, cfg.tables, log);
    await refuseTopicCollisions(catalog, cfg.publication, cfg.topicPrefix);

    // 3. Kafka: topics, the transactional producer (fences a predecessor), checkpoint.
    const kafka = createKafka(cfg.kafka, log, `walrelay-source-${cfg.slot}`);
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (e) {
      throw new ConnectionError('kafka', `brokers ${cfg.kafka.brokers.join(',')} unreachable: ${errorMessage(e)}`, { cause: e });
    }
    this.#closers.push(() => admin.disconnect());
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
      },
      log,
    );
    publisher.onSend = (_records, _bytes, ms) => this.#metrics.produceLatency.observe(ms / 1000);
    await publisher.connect();
    this.#closers.push(async () => {
      await publisher.abort().catch(() => undefined);
      await publisher.disconnect();
    });
    let checkpoint: SourceCheckpoint = (await readCheckpoint(kafka, cpTopic, cfg.slot, log)) ?? emptyCheckpoint(cfg.slot);
    log.info(
      { commitLsn: formatLsn(checkpoint.commitLsn), endLsn: formatLsn(checkpoint.endLsn), partial: checkpoint.partialFinalLsn !== null, snapshot: checkpoint.snapshot },
      'checkpoint read',
    );

    const registry = registryClientFromConfig(cfg.schemaRegistry);
    this.#closers.push(async () => registry.close());
    const tables = new TableRegistry(catalog, registry, topics, { topicPrefix: cfg.topicPrefix, format: cfg.format }, log);
    const database = (await catalog.query('SELECT current_database() AS db')).rows[0].db as string;
    const protocolVersion = await protocolVersionFor(catalog);
    const connectorName = cfg.connectorName ?? cfg.topicPrefix;

    // 4. Slot: create (with snapshot) or reuse.
    let slot = await slotInfo(catalog, cfg.slot);
    if (slot && checkpoint.snapshot === 'RUNNING') {
      log.warn({ slot: cfg.slot }, 'the previous snapshot did not finish: dropping the slot and redoing the snapshot from the start');
      await dropSlot(catalog, cfg.slot, log);
      slot = null;
      checkpoint = emptyCheckpoint(cfg.slot);
    }
    const repl = new ReplicationConnection(this.#pg, `walrelay-source-${cfg.slot}`, log);
    await repl.connect();
    this.#closers.push(() => repl.close());
    let start: Lsn = checkpoint.endLsn;
    if (!slot) {
      if (cfg.snapshot === 'never') {
        const created = await repl.createSlot(cfg.slot, false);
        log.info({ slot: cfg.slot, consistentPoint: formatLsn(created.consistentPoint) }, 'created replication slot (no snapshot)');
        start = created.consistentPoint;
      } else {
        const created = await repl.createSlot(cfg.slot, true);
        log.info({ slot: cfg.slot, consistentPoint: formatLsn(created.consistentPoint), snapshot: created.snapshotName }, 'created replication slot with an exported snapshot');
        this.#state = 'snapshot';
        const list = await publicationTables(catalog, cfg.publication);
        const rows = await runSnapshot(
          this.#pg,
          list,
          tables,
          publisher,
          { ...checkpoint, commitLsn: 0n, endLsn: 0n },
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
        checkpoint = {
          ...emptyCheckpoint(cfg.slot),
          endLsn: created.consistentPoint,
          snapshot: 'DONE',
          snapshotConsistentLsn: created.consistentPoint,
        };
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
    if (this.#abort.signal.aborted) return;

    // 5. Stream.
    this.#state = 'streaming';
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
      },
      this.#metrics,
      log,
    );
    this.#stream = stream;
    if (this.#abort.signal.aborted) return;
    await stream.run(start);
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

/**
 * Creates the publication when it does not exist: the configured tables, or every
 * table that has a key. Tables without a primary key or replica identity index are
 * left out (with a warning): a publication that publishes updates would make
 * PostgreSQL refuse UPDATE and DELETE on them. An existing publication is used as is.
 */
async function ensurePublication(client: pg.Client, publication: string, wanted: readonly string[], log: Logger): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (exists.rows.length > 0) {
    log.info({ publication }, 'using the existing publication');
    return;
  }
  const filter = wanted.length > 0 ? parseTablesSetting(wanted) : undefined;
  const { capturable, keyless, missing } = await listCapturableTables(client, filter);
  for (const k of keyless) {
    log.warn({ schema: k.schema, table: k.table }, 'table has no primary key or replica identity index: not added to the publication, its changes are not captured');
  }
  if (missing.length > 0) throw new ConfigError(`tables: not found in PostgreSQL: ${missing.join(', ')}`, { details: { setting: 'tables' } });
  const list = capturable.map((t) => `${quotePgIdent(t.schema)}.${quotePgIdent(t.table)}`);
  try {
    if (list.length === 0) {
      await client.query(`CREATE PUBLICATION ${quotePgIdent(publication)}`);
      log.warn({ publication }, 'created an empty publication: no table with a key to capture');
    } else {
      await client.query(`CREATE PUBLICATION ${quotePgIdent(publication)} FOR TABLE ${list.join(', ')}`);
      log.info({ publication, tables: list.length }, 'created publication');
    }
  } catch (e) {
    throw wrapPgError(`CREATE PUBLICATION ${publication}`, e);
  }
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
