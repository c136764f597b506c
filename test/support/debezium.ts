import type pg from 'pg';
import { waitFor } from './wait.js';

/**
 * Real Debezium in the tests: a Kafka Connect worker started by `scripts/services.sh up debezium`
 * (Kafka Connect 4.1.1, Debezium's PostgreSQL connector 3.6.1 and JDBC sink 3.6.0, Apicurio's
 * Avro converter). Connectors are created and removed through Connect's REST API.
 */
export const CONNECT_URL = process.env.WALRELAY_TEST_CONNECT_URL ?? 'http://127.0.0.1:8083';
export const APICURIO_V2_URL = process.env.WALRELAY_TEST_APICURIO_V2_URL ?? 'http://127.0.0.1:8081/apis/registry/v2';

/**
 * Apicurio's Kafka Connect converter configured to write what a Confluent-compatible consumer
 * reads: magic byte 0 + 4-byte content id (the id Apicurio 3's ccompat API serves), no headers,
 * subjects `<topic>-key` / `<topic>-value` (Apicurio's default TopicIdStrategy).
 */
export function apicurioConverter(side: 'key' | 'value'): Record<string, string> {
  const p = `${side}.converter`;
  return {
    [p]: 'io.apicurio.registry.utils.converter.AvroConverter',
    [`${p}.apicurio.registry.url`]: APICURIO_V2_URL,
    [`${p}.apicurio.registry.auto-register`]: 'true',
    [`${p}.apicurio.registry.as-confluent`]: 'true',
    [`${p}.apicurio.registry.use-id`]: 'contentId',
    [`${p}.apicurio.registry.headers.enabled`]: 'false',
  };
}

async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${CONNECT_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function connectAvailable(): Promise<boolean> {
  try {
    const r = await rest('GET', '/connector-plugins');
    return r.status === 200 && JSON.stringify(r.json).includes('io.debezium.connector.postgresql.PostgresConnector');
  } catch {
    return false;
  }
}

interface ConnectorStatus {
  readonly connector?: { readonly state?: string; readonly trace?: string };
  readonly tasks?: readonly { readonly state?: string; readonly trace?: string }[];
}

/** Creates a connector and waits until it and all its tasks run (a FAILED task fails the wait with its trace). */
export async function createConnector(name: string, config: Record<string, string>): Promise<void> {
  const created = await rest('POST', '/connectors', { name, config });
  if (created.status !== 201 && created.status !== 200) throw new Error(`Kafka Connect refused connector ${name}: ${created.status} ${JSON.stringify(created.json)}`);
  await waitFor(
    `connector ${name} RUNNING`,
    async () => {
      const s = (await rest('GET', `/connectors/${encodeURIComponent(name)}/status`)).json as ConnectorStatus;
      const failed = [s.connector, ...(s.tasks ?? [])].find((x) => x?.state === 'FAILED');
      if (failed) throw new Error(`connector ${name} FAILED: ${failed.trace ?? 'no trace'}`);
      return s.connector?.state === 'RUNNING' && (s.tasks?.length ?? 0) > 0 && (s.tasks ?? []).every((t) => t.state === 'RUNNING');
    },
    { timeoutMs: 120_000 },
  );
}

export async function connectorStatus(name: string): Promise<ConnectorStatus> {
  return (await rest('GET', `/connectors/${encodeURIComponent(name)}/status`)).json as ConnectorStatus;
}

/** Deletes a connector (if present) and waits until Connect no longer lists it. */
export async function deleteConnector(name: string): Promise<void> {
  await rest('DELETE', `/connectors/${encodeURIComponent(name)}`);
  await waitFor(`connector ${name} removed`, async () => {
    const list = (await rest('GET', '/connectors')).json as string[];
    return Array.isArray(list) && !list.includes(name);
  }, { timeoutMs: 60_000 });
}

/** Debezium's PostgreSQL connector on some tables, Avro through Apicurio in Confluent framing. */
export function debeziumPostgresConfig(o: {
  readonly topicPrefix: string;
  readonly slot: string;
  readonly publication: string;
  readonly database: string;
  readonly tables: readonly string[];
  readonly extra?: Record<string, string>;
}): Record<string, string> {
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'database.hostname': '127.0.0.1',
    'database.port': '5432',
    'database.user': 'postgres',
    'database.password': '',
    'database.dbname': o.database,
    'topic.prefix': o.topicPrefix,
    'plugin.name': 'pgoutput',
    'slot.name': o.slot,
    'publication.name': o.publication,
    'publication.autocreate.mode': 'filtered',
    'table.include.list': o.tables.join(','),
    'tasks.max': '1',
    // The local broker does not auto-create topics: Connect creates them (KIP-158).
    'topic.creation.default.replication.factor': '1',
    'topic.creation.default.partitions': '1',
    ...apicurioConverter('key'),
    ...apicurioConverter('value'),
    ...(o.extra ?? {}),
  };
}

/** Removes what a Debezium connector left in PostgreSQL (its slot, once inactive, and its publication). */
export async function dropDebeziumArtifacts(db: pg.Client, slot: string, publication: string): Promise<void> {
  await waitFor(`slot ${slot} inactive`, async () => {
    const r = await db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    return r.rows.length === 0 || r.rows[0].active === false;
  }, { timeoutMs: 60_000 });
  await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  await db.query(`DROP PUBLICATION IF EXISTS "${publication.replace(/"/g, '""')}"`);
}
