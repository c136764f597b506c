import pg from 'pg';
import { ConnectionError, createKafka, errorMessage, redactUrl, registryClientFromConfig, tableTopicPattern, tlsOptions, type Logger } from '@walrelay/core';
import type { CliConfig } from './settings.js';
import { asList } from './settings.js';
import { readCheckpoints, slotStatus, type SlotStatus } from './source-status.js';
import { groupsOnTopics, groupStatus, recordCount, topicOffsets, type GroupStatus, type TopicOffsets } from './sink-status.js';
import { readTargetOffsets, type TableOwnerRow, type TargetOffsets } from './target-offsets.js';

export interface StatusReport {
  readonly checkedAt: string;
  readonly topicPrefix: string;
  readonly healthy: boolean;
  /** Why it is unhealthy (each names the slot, group, partition and threshold). */
  readonly problems: string[];
  /** Worth knowing, not unhealthy by itself (e.g. a slot no process streams from). */
  readonly warnings: string[];
  readonly sources: SlotStatus[];
  readonly topics: TopicOffsets[];
  readonly deadLetterTopics: { readonly topic: string; readonly records: number }[];
  readonly sinks: GroupStatus[];
  readonly targets: { readonly target: string; readonly dialect: string; readonly offsetsTable: boolean; readonly tableOwners: TableOwnerRow[] }[];
  readonly thresholds: CliConfig['thresholds'];
}

export function pgClientConfig(config: CliConfig): pg.ClientConfig {
  const ssl = config.postgres.ssl;
  return {
    connectionString: config.postgres.url,
    application_name: 'walrelay-cli',
    connectionTimeoutMillis: 10_000,
    ...(ssl !== undefined ? { ssl: typeof ssl === 'boolean' ? ssl : tlsOptions(ssl) } : {}),
  };
}

/** Collects the whole picture from PostgreSQL, Kafka, the registry and the targets; no walrelay process needed. */
export async function collectStatus(config: CliConfig, log: Logger): Promise<StatusReport> {
  const prefix = config.topicPrefix;
  const kafka = createKafka(config.kafka, log, 'walrelay-cli');
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (e) {
    throw new ConnectionError('kafka', `brokers ${config.kafka.brokers.join(',')} unreachable: ${errorMessage(e)}`, { cause: e });
  }
  const registry = registryClientFromConfig(config.schemaRegistry);
  const client = new pg.Client(pgClientConfig(config));
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new ConnectionError('postgres', `${redactUrl(config.postgres.url)} unreachable: ${errorMessage(e)}`, { cause: e });
    }
    const problems: string[] = [];
    const warnings: string[] = [];
    const t = config.thresholds;

    // Sources.
    const checkpoints = await readCheckpoints(kafka, admin, prefix, config.timeoutMs);
    let slots = asList(config.slot);
    if (slots.length === 0) slots = checkpoints.size > 0 ? [...checkpoints.keys()].sort() : ['walrelay'];
    const sources: SlotStatus[] = [];
    for (const slot of slots) {
      const s = await slotStatus(client, slot, checkpoints.get(slot) ?? null);
      sources.push(s);
      if (!s.exists) {
        problems.push(
          s.checkpoint
            ? `slot ${slot}: missing in PostgreSQL, but a checkpoint exists (last written ${s.checkpoint.updatedAt}): the slot was dropped or lost; changes since may be missing from Kafka`
            : `slot ${slot}: missing in PostgreSQL (no source has run with it, or it was dropped)`,
        );
        continue;
      }
      if (s.retainedWalBytes !== null && s.retainedWalBytes > t.maxRetainedWalBytes) {
        problems.push(`slot ${slot}: retains ${s.retainedWalBytes} bytes of WAL, above --max-retained-wal-bytes ${t.maxRetainedWalBytes}`);
      }
      if (s.walStatus === 'lost' || s.walStatus === 'unreserved') problems.push(`slot ${slot}: wal_status is ${s.walStatus} (max_slot_wal_keep_size reached)`);
      if (!s.active) warnings.push(`slot ${slot}: no process streams from it (no walrelay-source running?)`);
      if (!s.checkpoint) warnings.push(`slot ${slot}: no checkpoint in ${prefix}.__walrelay_checkpoints (no source has published with this prefix)`);
      else if (s.checkpoint.snapshot === 'RUNNING') warnings.push(`slot ${slot}: the initial snapshot is running (or was interrupted and will be redone)`);
    }

    // Topics.
    const names = (await admin.listTopics()).sort();
    const pattern = tableTopicPattern(prefix);
    const tableTopics = await topicOffsets(admin, names.filter((n) => pattern.test(n)));
    const dlqPrefix = `${prefix}.dlq.`;
    const dlqTopics = await topicOffsets(admin, names.filter((n) => n.startsWith(dlqPrefix)));

    // Targets and groups.
    const targets: TargetOffsets[] = [];
    for (const url of asList(config.target.url as string | string[] | undefined)) targets.push(await readTargetOffsets(url));
    const topicSet = new Set(tableTopics.map((x) => x.topic));
    let groups = asList(config.groupId);
    if (groups.length === 0) {
      const found = new Set(await groupsOnTopics(admin, [...topicSet]));
      for (const tg of targets) for (const r of tg.rows ?? []) if (topicSet.has(r.topic)) found.add(r.groupId);
      groups = [...found].sort();
    }
    const sinks: GroupStatus[] = [];
    for (const groupId of groups) {
      const target = targets.find((tg) => (tg.rows ?? []).some((r) => r.groupId === groupId)) ?? (targets.length === 1 ? targets[0] : undefined) ?? null;
      const g = await groupStatus(kafka, admin, registry, { groupId, prefix, topics: tableTopics, target, dlqTopics, timeoutMs: config.timeoutMs });
      sinks.push(g);
      for (const p of g.partitions) {
        if (p.lag > t.maxLagRecords) problems.push(`group ${groupId}: ${p.topic}/${p.partition} is ${p.lag} records behind, above --max-lag-records ${t.maxLagRecords}`);
      }
      if (g.secondsBehind > t.maxLagSeconds) {
        problems.push(`group ${groupId}: the oldest change its target lacks was committed ${g.secondsBehind.toFixed(0)} s ago, above --max-lag-seconds ${t.maxLagSeconds}`);
      }
      if (g.members.length === 0) warnings.push(`group ${groupId}: no member (no sink process running)`);
      if (g.deadLetters) warnings.push(`group ${groupId}: ${g.deadLetters} records in ${g.deadLetterTopic}`);
      for (const u of g.undecodable) warnings.push(`group ${groupId}: record ${u}`);
    }
    for (const tg of targets) {
      if (tg.rows === null) warnings.push(`target ${tg.target}: has no walrelay_offsets table (no sink has written there)`);
    }
    return {
      checkedAt: new Date().toISOString(),
      topicPrefix: prefix,
      healthy: problems.length === 0,
      problems,
      warnings,
      sources,
      topics: tableTopics,
      deadLetterTopics: dlqTopics.map((x) => ({ topic: x.topic, records: recordCount(x) })),
      sinks,
      targets: targets.map((tg) => ({ target: tg.target, dialect: tg.dialect, offsetsTable: tg.rows !== null, tableOwners: tg.owners })),
      thresholds: t,
    };
  } finally {
    await client.end().catch(() => undefined);
    registry.close();
    await admin.disconnect().catch(() => undefined);
  }
}
