import { checkpointTopic, ConfigError, createKafka, createLogger, errorMessage, tlsOptions } from '@walrelay/core';
import { loadSourceConfig, parseTableName, type SourceConfig } from './config.js';
import { pgClient } from './replication/connection.js';
import { readCheckpoint } from './publish/checkpoint-reader.js';
import { insertSignal, parseSignalTable } from './snapshot/signals.js';

export type SnapshotCommand =
  | { readonly action: 'execute'; readonly tables: string[]; readonly where?: string; readonly configArgs: string[] }
  | { readonly action: 'stop'; readonly tables: string[]; readonly configArgs: string[] }
  | { readonly action: 'list'; readonly configArgs: string[] };

export const SNAPSHOT_USAGE = `walrelay-source snapshot <schema.table>… [--where <condition>]   request an incremental snapshot
walrelay-source snapshot --stop [<schema.table>…]                 cancel (all requested snapshots when no table is named)
walrelay-source snapshot --list                                   the snapshots in progress, from the Kafka checkpoint
  (--config <file> and the WALRELAY_* environment as for the source itself)`;

/** Parses the arguments after `snapshot`. Throws an Error naming the problem. */
export function parseSnapshotArgs(args: readonly string[]): SnapshotCommand {
  const tables: string[] = [];
  const configArgs: string[] = [];
  let where: string | undefined;
  let stop = false;
  let list = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--where') {
      const v = args[++i];
      if (v === undefined || v.trim() === '') throw new ConfigError('--where needs a condition');
      where = v;
    } else if (a.startsWith('--where=')) where = a.slice('--where='.length);
    else if (a === '--stop') stop = true;
    else if (a === '--list') list = true;
    else if (a === '--config') {
      const v = args[++i];
      if (v === undefined) throw new ConfigError('--config needs a file');
      configArgs.push('--config', v);
    } else if (a.startsWith('--config=')) configArgs.push(a);
    else if (a.startsWith('--')) throw new ConfigError(`unknown option ${a}`);
    else {
      parseTableName(a);
      tables.push(a);
    }
  }
  if (list) {
    if (stop || tables.length || where) throw new ConfigError('--list takes no table, --stop or --where');
    return { action: 'list', configArgs };
  }
  if (stop) {
    if (where) throw new ConfigError('--stop takes no --where');
    return { action: 'stop', tables, configArgs };
  }
  if (tables.length === 0) throw new ConfigError('name at least one table (schema.table)');
  return { action: 'execute', tables, ...(where !== undefined ? { where } : {}), configArgs };
}

/**
 * `walrelay-source snapshot …`: inserts a signal into the signal table (the running
 * source sees it through the slot, in commit order), or lists the snapshots in
 * progress from the checkpoint. Returns the exit code; prints JSON to `out`.
 */
export async function runSnapshotCommand(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<number> {
  let cmd: SnapshotCommand;
  let cfg: SourceConfig;
  try {
    cmd = parseSnapshotArgs(args);
    cfg = loadSourceConfig(cmd.configArgs, env);
  } catch (e) {
    out(JSON.stringify({ error: errorMessage(e), usage: SNAPSHOT_USAGE }));
    return 2;
  }
  try {
    if (cmd.action === 'list') {
      const log = createLogger('walrelay-source-snapshot', 'warn');
      const kafka = createKafka(cfg.kafka, log, `walrelay-snapshot-list-${cfg.slot}`);
      const topic = checkpointTopic(cfg.topicPrefix);
      const admin = kafka.admin();
      await admin.connect();
      const exists = (await admin.listTopics().finally(() => admin.disconnect())).includes(topic);
      if (!exists) {
        out(JSON.stringify({ error: `no checkpoint topic ${topic}: no walrelay-source has run with topic prefix ${cfg.topicPrefix} (set topicPrefix / WALRELAY_TOPIC_PREFIX as for the source)` }));
        return 1;
      }
      const cp = await readCheckpoint(kafka, topic, cfg.slot, log, 30_000);
      out(
        JSON.stringify({
          slot: cfg.slot,
          initialSnapshot: cp?.snapshot ?? 'NONE',
          snapshots: (cp?.incremental ?? []).map((e) => ({ id: e.id, table: `${e.schema}.${e.table}`, reason: e.reason, condition: e.condition, lastKey: e.lastKey, rows: Number(e.rows) })),
        }),
      );
      return 0;
    }
    const ssl = cfg.postgres.ssl;
    const client = pgClient({ url: cfg.postgres.url, ...(ssl !== undefined ? { ssl: typeof ssl === 'boolean' ? ssl : tlsOptions(ssl) } : {}) }, false, 'walrelay-source-snapshot', false);
    await client.connect();
    try {
      const signal = parseSignalTable(cfg.incremental.signalTable);
      const id = await insertSignal(client, signal, cmd.action === 'execute'
        ? { type: 'execute-snapshot', tables: cmd.tables, ...(cmd.where !== undefined ? { condition: cmd.where } : {}) }
        : { type: 'stop-snapshot', tables: cmd.tables });
      out(JSON.stringify({ signal: id, type: cmd.action === 'execute' ? 'execute-snapshot' : 'stop-snapshot', tables: cmd.tables, ...(cmd.action === 'execute' && cmd.where ? { where: cmd.where } : {}) }));
      return 0;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (e) {
    out(JSON.stringify({ error: errorMessage(e) }));
    return 1;
  }
}
