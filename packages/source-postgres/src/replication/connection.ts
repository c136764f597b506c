import pg from 'pg';
import {
  ConnectionError,
  ReplicationError,
  formatLsn,
  parseLsn,
  type Logger,
  type Lsn,
} from '@walrelay/core';
import { decodeReplicationFrame, encodeStandbyStatus, pgEpochMicros, type ReplicationFrame } from '../protocol/index.js';
import { sessionOptions } from './session-settings.js';

export interface PgConnectionSettings {
  readonly url: string;
  readonly ssl?: pg.ClientConfig['ssl'];
}

/** Quotes an identifier for PostgreSQL (replication commands take no parameters). */
export function quotePgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a string literal for the replication protocol's simple commands. */
export function quotePgLiteral(value: string): string {
  if (value.includes('\0')) throw new ReplicationError('a replication option may not contain a NUL byte');
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A connection with the source's session settings. `rawText` keeps every value as
 * PostgreSQL's text output (snapshot reads and replication); catalog queries use
 * node-postgres' usual parsing.
 */
export function pgClient(settings: PgConnectionSettings, replication: boolean, applicationName: string, rawText = true): pg.Client {
  return new pg.Client({
    connectionString: settings.url,
    ...(settings.ssl !== undefined ? { ssl: settings.ssl } : {}),
    ...(replication ? { replication: 'database' } : {}),
    application_name: applicationName,
    options: sessionOptions(),
    // Keep every value as PostgreSQL's text: the converters decide, no Date objects.
    ...(rawText ? { types: { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig } : {}),
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
  } as pg.ClientConfig);
}

export function wrapPgError(what: string, e: unknown): Error {
  const err = e as { code?: string; message?: string };
  if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT' || err.code === 'ECONNRESET' || err.code === '57P01' || err.code === '57P03' || /timeout|terminated|Connection terminated/i.test(err.message ?? '')) {
    return new ConnectionError('postgresql', `${what}: ${err.message ?? String(e)}`, { cause: e });
  }
  if (err.code === '42501') {
    return new ReplicationError(`${what}: permission denied — the user needs the REPLICATION attribute (ALTER ROLE ... REPLICATION) and SELECT on the captured tables (${err.message})`, { cause: e });
  }
  if (err.code === '55000' && /wal_level/i.test(err.message ?? '')) {
    return new ReplicationError(`${what}: logical decoding needs wal_level = logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL): ${err.message}`, { cause: e });
  }
  if (err.code === '55006') {
    return new ReplicationError(`${what}: ${err.message}`, { cause: e, retriable: true, details: { slotInUse: true } });
  }
  return new ReplicationError(`${what}: ${err.message ?? String(e)}`, { cause: e, details: { pgCode: err.code } });
}

export interface CreatedSlot {
  readonly consistentPoint: Lsn;
  readonly snapshotName: string | null;
}

export interface StreamHandlers {
  /** Called for each frame in order; returning a promise applies back-pressure. */
  onFrame(frame: ReplicationFrame): void;
  onError(error: Error): void;
  onEnd(): void;
}

/**
 * A walsender connection: slot creation and the CopyBoth stream of
 * START_REPLICATION. node-postgres has no public CopyBoth API; frames arrive as
 * the connection's `copyData` events and replies go out with `sendCopyFromChunk`.
 */
export class ReplicationConnection {
  readonly #client: pg.Client;
  readonly #log: Logger;
  #streaming = false;
  #paused = false;

  constructor(settings: PgConnectionSettings, applicationName: string, log: Logger) {
    this.#client = pgClient(settings, true, applicationName);
    this.#log = log;
  }

  async connect(): Promise<void> {
    try {
      await this.#client.connect();
    } catch (e) {
      throw wrapPgError('replication connection', e);
    }
    this.#client.on('error', (e) => this.#log.debug({ err: e.message }, 'replication connection error'));
  }

  async identifySystem(): Promise<{ systemId: string; timeline: number; xlogpos: Lsn; dbname: string }> {
    const res = await this.#query('IDENTIFY_SYSTEM');
    const row = res.rows[0] as Record<string, string>;
    return {
      systemId: String(row.systemid),
      timeline: Number(row.timeline),
      xlogpos: parseLsn(String(row.xlogpos)),
      dbname: String(row.dbname),
    };
  }

  /**
   * CREATE_REPLICATION_SLOT … LOGICAL pgoutput, exporting a snapshot when asked. `command`
   * replaces the default command (slot-lifecycle.ts builds it with FAILOVER on 17+).
   */
  async createSlot(slot: string, exportSnapshot: boolean, command?: string): Promise<CreatedSlot> {
    const res = await this.#query(
      command ?? `CREATE_REPLICATION_SLOT ${quotePgIdent(slot)} LOGICAL pgoutput (SNAPSHOT '${exportSnapshot ? 'export' : 'nothing'}')`,
    );
    const row = res.rows[0] as Record<string, string | null>;
    return {
      consistentPoint: parseLsn(String(row.consistent_point)),
      snapshotName: row.snapshot_name ?? null,
    };
  }

  /**
   * START_REPLICATION SLOT … LOGICAL start (options). Resolves once streaming has
   * started; frames go to `handlers` until the stream ends.
   */
  async startReplication(slot: string, start: Lsn, options: Readonly<Record<string, string>>, handlers: StreamHandlers): Promise<void> {
    const opts = Object.entries(options)
      .map(([k, v]) => `${quotePgIdent(k)} ${quotePgLiteral(v)}`)
      .join(', ');
    const sql = `START_REPLICATION SLOT ${quotePgIdent(slot)} LOGICAL ${formatLsn(start)} (${opts})`;
    const connection = (this.#client as unknown as { connection: PgWireConnection }).connection;
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const onStart = (): void => {
        started = true;
        this.#streaming = true;
        resolve();
      };
      connection.once('replicationStart', onStart);
      connection.on('copyData', (msg: { chunk: Buffer }) => {
        let frame: ReplicationFrame;
        try {
          frame = decodeReplicationFrame(msg.chunk);
        } catch (e) {
          handlers.onError(e as Error);
          return;
        }
        handlers.onFrame(frame);
      });
      this.#client.query(sql).then(
        () => {
          this.#streaming = false;
          if (!started) reject(new ReplicationError('START_REPLICATION ended before streaming started'));
          else handlers.onEnd();
        },
        (e: unknown) => {
          this.#streaming = false;
          connection.removeListener('replicationStart', onStart);
          const err = wrapPgError(`START_REPLICATION on slot ${slot}`, e);
          if (!started) reject(err);
          else handlers.onError(err);
        },
      );
    });
  }

  /** Standby status update: written / flushed (confirmed) / applied LSNs. */
  sendStatus(written: Lsn, flushed: Lsn, replyRequested = false): void {
    if (!this.#streaming) return;
    const connection = (this.#client as unknown as { connection: PgWireConnection }).connection;
    connection.sendCopyFromChunk(encodeStandbyStatus(written, flushed, flushed, pgEpochMicros(), replyRequested));
  }

  /** Socket-level back-pressure: stop reading frames until resume(). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    (this.#client as unknown as { connection: PgWireConnection }).connection.stream.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    (this.#client as unknown as { connection: PgWireConnection }).connection.stream.resume();
  }

  get streaming(): boolean {
    return this.#streaming;
  }

  async close(): Promise<void> {
    this.#streaming = false;
    const connection = (this.#client as unknown as { connection?: PgWireConnection }).connection;
    try {
      // Ending the stream politely: CopyDone, then close the connection.
      if (connection) connection.stream.resume();
      await Promise.race([this.#client.end(), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      /* already gone */
    }
    connection?.stream.destroy();
  }

  /** A replication command without a result of interest (e.g. ALTER_REPLICATION_SLOT). */
  async command(sql: string): Promise<void> {
    await this.#query(sql);
  }

  async #query(sql: string): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(sql);
    } catch (e) {
      throw wrapPgError(sql.split(' ').slice(0, 2).join(' '), e);
    }
  }
}

interface PgWireConnection {
  once(event: string, fn: (...args: unknown[]) => void): void;
  on(event: string, fn: (msg: { chunk: Buffer }) => void): void;
  removeListener(event: string, fn: (...args: unknown[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void; destroy(): void };
}
