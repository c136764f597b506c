import { z } from 'zod/v3';
import type pg from 'pg';
import { ConfigError, Counter, Gauge, errorMessage, type Logger, type Registry } from '@walrelay/core';
import { pgClient, type PgConnectionSettings } from '../replication/connection.js';

/**
 * `heartbeat`: every `intervalMs` (0 = off) the active source writes to the captured
 * database, so a quiet database on a busy server produces WAL and transactions for the slot
 * to confirm, and — when `actionQuery` changes a row of a published table — a change that
 * travels through Kafka to every sink like any other, so the sinks' last-change age stays
 * small while the pipeline works.
 */
export const heartbeatConfig = z
  .object({
    intervalMs: z.number().int().min(0).default(0),
    /**
     * SQL run in the captured database on every beat (e.g.
     * `INSERT INTO walrelay_heartbeat (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = now()`).
     * Without it the beat is `pg_logical_emit_message(false, 'walrelay.heartbeat', now())`: WAL only, nothing reaches the sinks.
     */
    actionQuery: z.string().min(1).optional(),
  })
  .strict()
  .default({});

export type HeartbeatSettings = z.output<typeof heartbeatConfig>;

export const heartbeatEnv = {
  WALRELAY_HEARTBEAT_INTERVAL_MS: { path: ['heartbeat', 'intervalMs'], type: 'int' },
  WALRELAY_HEARTBEAT_ACTION_QUERY: { path: ['heartbeat', 'actionQuery'] },
} as const;

const EMIT_SQL = "SELECT pg_logical_emit_message(false, 'walrelay.heartbeat', now()::text)";

/** The source's heartbeat: created once per process, started while the process holds the slot. */
export class SourceHeartbeat {
  readonly #settings: HeartbeatSettings;
  readonly #pg: PgConnectionSettings;
  readonly #log: Logger;
  readonly #beats: Counter<string>;
  readonly #failures: Counter<string>;
  readonly #last: Gauge<string>;

  constructor(settings: HeartbeatSettings, pgSettings: PgConnectionSettings, log: Logger, registry: Registry) {
    this.#settings = settings;
    this.#pg = pgSettings;
    this.#log = log;
    const r = [registry];
    this.#beats = new Counter({ name: 'walrelay_source_heartbeats_total', help: 'Heartbeats written to the captured database', registers: r });
    this.#failures = new Counter({ name: 'walrelay_source_heartbeat_failures_total', help: 'Heartbeats that failed (the log names the error)', registers: r });
    this.#last = new Gauge({ name: 'walrelay_source_heartbeat_timestamp_seconds', help: 'Unix time of the last successful heartbeat', registers: r });
  }

  get enabled(): boolean {
    return this.#settings.intervalMs > 0;
  }

  /**
   * Runs the first beat now (a failing actionQuery is a ConfigError naming the setting, so a
   * typo stops the start instead of failing quietly on every beat), then one every intervalMs.
   * Returns the function that stops it.
   */
  async start(): Promise<() => Promise<void>> {
    if (!this.enabled) return async () => undefined;
    const sql = this.#settings.actionQuery ?? EMIT_SQL;
    let client: pg.Client | undefined;
    const connect = async (): Promise<pg.Client> => {
      if (client) return client;
      const c = pgClient(this.#pg, false, 'walrelay-source-heartbeat', false);
      c.on('error', (e) => {
        this.#log.warn({ err: e.message }, 'heartbeat connection error');
        if (client === c) client = undefined;
      });
      await c.connect();
      client = c;
      return c;
    };
    const beat = async (): Promise<void> => {
      const c = await connect();
      await c.query(sql);
      this.#beats.inc();
      this.#last.set(Date.now() / 1000);
    };
    try {
      await beat();
    } catch (e) {
      await client?.end().catch(() => undefined);
      const code = (e as { code?: unknown }).code;
      // SQL errors (class 42 syntax/undefined object, 22 data, 23 constraint, 25/28 privileges) are the setting's fault.
      if (typeof code === 'string' && /^(42|22|23|25|28)/.test(code)) {
        throw new ConfigError(`heartbeat.actionQuery (WALRELAY_HEARTBEAT_ACTION_QUERY) failed in the captured database: ${errorMessage(e)}`, { cause: e });
      }
      throw e;
    }
    let running = false;
    let stopped = false;
    const timer = setInterval(() => {
      if (running || stopped) return;
      running = true;
      beat()
        .catch((e: unknown) => {
          this.#failures.inc();
          this.#log.warn({ err: errorMessage(e), setting: this.#settings.actionQuery ? 'heartbeat.actionQuery' : 'heartbeat.intervalMs' }, 'heartbeat failed');
          const c = client;
          client = undefined;
          c?.end().catch(() => undefined);
        })
        .finally(() => (running = false));
    }, this.#settings.intervalMs);
    this.#log.info({ intervalMs: this.#settings.intervalMs, actionQuery: this.#settings.actionQuery !== undefined }, 'heartbeat started');
    return async () => {
      stopped = true;
      clearInterval(timer);
      await client?.end().catch(() => undefined);
      client = undefined;
    };
  }
}
