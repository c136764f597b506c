#!/usr/bin/env node
// First: refuse a node older than walrelay supports, then the heap settings (may restart this
// process with them before anything else loads).
import '@walrelay/core/supported-node';
import '@walrelay/core/default-heap-settings';
import { ConfigError, ConnectionError, kafkaCheck, redactUrl, registryCheck, serviceMain, tlsOptions, type StartupCheck } from '@walrelay/core';
import { sourceConfigSchema, sourceEnv, type SourceConfig } from './config.js';
import { pgClient } from './replication/connection.js';
import { Source } from './source.js';
import { runSnapshotCommand, SNAPSHOT_USAGE } from './snapshot-command.js';

/** One connection to the captured database and `SELECT 1`, bounded by its connection timeout. */
function postgresCheck(config: SourceConfig): StartupCheck {
  const url = new URL(config.postgres.url);
  return {
    service: 'postgresql',
    address: `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname}`,
    check: async () => {
      const ssl = config.postgres.ssl;
      const client = pgClient(
        { url: config.postgres.url, ...(ssl !== undefined ? { ssl: typeof ssl === 'boolean' ? ssl : tlsOptions(ssl) } : {}) },
        false,
        'walrelay-source-check',
        false,
      );
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
      } catch (e) {
        const err = e as { code?: string; message?: string };
        // A refusal by the server (password, missing database) is final; the rest is retried.
        if (err.code !== undefined && /^(28|3D)/.test(err.code)) {
          throw new ConfigError(`postgres.url: PostgreSQL at ${redactUrl(config.postgres.url)} refused the connection: ${err.message}`, { cause: e });
        }
        throw new ConnectionError('postgresql', err.message ?? String(e), { cause: e });
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

if (process.argv[2] === 'snapshot') {
  // walrelay-source snapshot …: request, cancel or list incremental snapshots, then exit.
  if (process.argv[3] === '--help' || process.argv[3] === '-h') {
    process.stdout.write(`${SNAPSHOT_USAGE}\n`);
    process.exit(0);
  }
  process.exit(await runSnapshotCommand(process.argv.slice(3)));
}

serviceMain({
  name: 'walrelay-source',
  summary:
    'Change-data-capture from PostgreSQL: reads the logical replication slot (pgoutput) of one database and publishes every row change of the published tables to Kafka, one topic per table, Avro with schemas in a Confluent-compatible registry, in Kafka transactions that carry its checkpoint (exactly once). Takes an initial snapshot; a second process on the same slot waits as a hot standby. Creates the publication, the slot and the topics when missing, after every service has been reached. `walrelay-source snapshot <schema.table>… [--where …] | --stop | --list` requests, cancels or lists incremental snapshots (`walrelay-source snapshot --help`).',
  settings: { schema: sourceConfigSchema, bindings: sourceEnv },
  describe: (config) => ({
    postgres: redactUrl(config.postgres.url),
    kafka: config.kafka.brokers,
    registry: redactUrl(config.schemaRegistry.url),
    slot: config.slot,
    publication: config.publication,
    snapshot: config.snapshot,
    topicPrefix: config.topicPrefix,
  }),
  checks: (config, log) => [postgresCheck(config), kafkaCheck(config.kafka, log), registryCheck(config.schemaRegistry)],
  create: (config, log, registry) => {
    const source = new Source(config, log, registry);
    return {
      run: () => source.run(),
      stop: () => source.stop(),
      live: () => source.live(),
      stalled: () => source.stalled,
      ready: () => source.readiness(),
    };
  },
});
