import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { checkpointTopic, ConnectionError, createKafka, errorMessage, redactUrl, WalrelayError, type Logger } from '@walrelay/core';
import type { CliConfig } from './settings.js';
import { asList } from './settings.js';
import { pgClientConfig } from './status.js';
import { readCheckpoints, slotStatus } from './source-status.js';

/** The source is running (or another client uses the slot): nothing was dropped. */
export class SourceActiveError extends WalrelayError {
  constructor(message: string) {
    super('SOURCE_ACTIVE', message, { retriable: false });
  }
}

export interface DropResult {
  readonly slot: string;
  readonly terminated: number[];
  readonly slotDropped: boolean;
  readonly checkpointRemoved: boolean;
  readonly publicationDropped: string | null;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Removes what a source leaves behind: its replication slot (so PostgreSQL stops keeping WAL
 * for it) and its checkpoint (a tombstone for the slot's key in the compacted checkpoint
 * topic, so a later source with this slot name starts from scratch, snapshot included).
 * Refuses while a walsender streams from the slot or a process holds the source's standby
 * lock, unless `force`: then it terminates those sessions first.
 */
export async function dropSource(config: CliConfig, options: { force: boolean; dropPublication: boolean }, log: Logger): Promise<DropResult> {
  const slots = asList(config.slot);
  if (slots.length !== 1) throw new WalrelayError('USAGE', `drop-source needs exactly one slot (--slot or WALRELAY_SLOT), got ${slots.length === 0 ? 'none' : slots.join(', ')}`);
  const slot = slots[0] as string;
  const client = new pg.Client(pgClientConfig(config));
  try {
    await client.connect();
  } catch (e) {
    throw new ConnectionError('postgres', `${redactUrl(config.postgres.url)} unreachable: ${errorMessage(e)}`, { cause: e });
  }
  const kafka = createKafka(config.kafka, log, 'walrelay-cli');
  const admin = kafka.admin();
  try {
    try {
      await admin.connect();
    } catch (e) {
      throw new ConnectionError('kafka', `brokers ${config.kafka.brokers.join(',')} unreachable: ${errorMessage(e)}`, { cause: e });
    }
    const checkpoints = await readCheckpoints(kafka, admin, config.topicPrefix, config.timeoutMs);
    let s = await slotStatus(client, slot, checkpoints.get(slot) ?? null);
    const terminated: number[] = [];
    const busy = [s.lockHolder ? `walrelay-source session pid ${s.lockHolder.pid} (${s.lockHolder.clientAddr ?? 'local'}) holds the slot's lock` : '', s.active ? `backend pid ${s.activePid} streams from the slot` : '']
      .filter((x) => x)
      .join('; ');
    if (busy) {
      if (!options.force) throw new SourceActiveError(`slot ${slot} is in use: ${busy}. Stop the source first, or pass --force to terminate those sessions (a running source would then start over with a new slot)`);
      for (const pid of [s.lockHolder?.pid, s.activePid]) {
        if (pid == null || terminated.includes(pid)) continue;
        await client.query('SELECT pg_terminate_backend($1)', [pid]);
        terminated.push(pid);
      }
      const deadline = Date.now() + 30_000;
      while ((s.active || s.lockHolder) && Date.now() < deadline) {
        await sleep(200);
        s = await slotStatus(client, slot, s.checkpoint);
      }
      if (s.active) throw new SourceActiveError(`slot ${slot} is still in use by pid ${s.activePid} after terminating ${terminated.join(', ')}`);
    }
    let slotDropped = false;
    if (s.exists) {
      await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
      slotDropped = true;
    }
    let checkpointRemoved = false;
    if (s.checkpoint) {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      try {
        await producer.send({ topic: checkpointTopic(config.topicPrefix), acks: -1, messages: [{ key: slot, value: null }] });
      } finally {
        await producer.disconnect();
      }
      checkpointRemoved = true;
    }
    let publicationDropped: string | null = null;
    if (options.dropPublication) {
      const db = (await client.query('SELECT current_database() AS db')).rows[0].db as string;
      if (s.database && s.database !== db) {
        throw new WalrelayError('USAGE', `publication ${config.publication} lives in database ${s.database}, but WALRELAY_PG_URL connects to ${db}: point it at ${s.database} to drop the publication`);
      }
      await client.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(config.publication)}`);
      publicationDropped = config.publication;
    }
    return { slot, terminated, slotDropped, checkpointRemoved, publicationDropped };
  } finally {
    await client.end().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
