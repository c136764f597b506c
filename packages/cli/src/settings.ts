import { z } from 'zod/v3';
import { commonConfig, commonEnv, loadConfig, tlsConfig, type EnvBindings } from '@walrelay/core';

/**
 * What `walrelay` reads: the same keys and environment variables as the binaries
 * (a source's and a sink's config file both work), plus the health thresholds.
 * Lists (slots, groups, targets) take several values; the binaries' single-valued
 * variables (WALRELAY_SLOT, WALRELAY_GROUP_ID, WALRELAY_TARGET_URL) fill them.
 */
export const cliConfigSchema = z
  .object({
    kafka: commonConfig.kafka,
    schemaRegistry: commonConfig.schemaRegistry,
    topicPrefix: commonConfig.topicPrefix,
    logLevel: commonConfig.logLevel.default('warn'),
    postgres: z
      .object({
        url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').default('postgres://postgres@127.0.0.1:5432/postgres'),
        ssl: tlsConfig.optional(),
      })
      .strict()
      .default({}),
    /** Slots to report on (default: every slot with a checkpoint under the prefix, else `walrelay`). */
    slot: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    publication: z.string().min(1).default('walrelay'),
    /** Sink consumer groups to report on (default: every group with offsets on the prefix's table topics or in a target). */
    groupId: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    /** Sink targets whose walrelay_offsets to read (mysql://, mariadb://, mssql://, sqlite: or a file path). */
    target: z
      .object({ url: z.union([z.string().min(1), z.array(z.string().min(1))]).optional() })
      .passthrough()
      .default({}),
    thresholds: z
      .object({
        /** Unhealthy when a slot retains more WAL than this (bytes). */
        maxRetainedWalBytes: z.number().int().min(0).default(1024 * 1024 * 1024),
        /** Unhealthy when a sink group is more records behind than this on one partition. */
        maxLagRecords: z.number().int().min(0).default(100_000),
        /** Unhealthy when the oldest change a target lacks was committed longer ago than this. */
        maxLagSeconds: z.number().min(0).default(300),
      })
      .strict()
      .default({}),
    /** How long to wait for Kafka reads (checkpoint topic, records at offsets). */
    timeoutMs: z.number().int().min(100).default(20_000),
  })
  // A binary's config file has more keys (transactions, batch, …): ignored here.
  .passthrough();

export type CliConfig = z.output<typeof cliConfigSchema>;

/** The binaries' shared variables (core's commonEnv, less the HTTP server, shutdown and idle-memory ones), plus the CLI's own. */
const { WALRELAY_HTTP_HOST: _host, WALRELAY_HTTP_PORT: _port, WALRELAY_SHUTDOWN_TIMEOUT_MS: _shutdown, WALRELAY_IDLE_MEMORY_RELEASE_MS: _idle, ...shared } = commonEnv;

export const cliEnv: EnvBindings = {
  ...shared,
  WALRELAY_PG_URL: { path: ['postgres', 'url'] },
  WALRELAY_PG_SSL: { path: ['postgres', 'ssl'], type: 'json' },
  WALRELAY_SLOT: { path: ['slot'], type: 'list' },
  WALRELAY_PUBLICATION: { path: ['publication'] },
  WALRELAY_GROUP_ID: { path: ['groupId'], type: 'list' },
  WALRELAY_TARGET_URL: { path: ['target', 'url'], type: 'list' },
  WALRELAY_STATUS_MAX_RETAINED_WAL_BYTES: { path: ['thresholds', 'maxRetainedWalBytes'], type: 'int' },
  WALRELAY_STATUS_MAX_LAG_RECORDS: { path: ['thresholds', 'maxLagRecords'], type: 'int' },
  WALRELAY_STATUS_MAX_LAG_SECONDS: { path: ['thresholds', 'maxLagSeconds'], type: 'int' },
};

/** Command-line flags that set a value, and the variable each stands for (flags win over both file and environment). */
export const VALUE_FLAGS: Readonly<Record<string, { env: string; help: string; multiple?: boolean }>> = {
  'pg-url': { env: 'WALRELAY_PG_URL', help: 'PostgreSQL of the source (postgres://…)' },
  brokers: { env: 'WALRELAY_KAFKA_BROKERS', help: 'Kafka bootstrap brokers, comma-separated' },
  registry: { env: 'WALRELAY_SCHEMA_REGISTRY_URL', help: 'schema registry (Confluent-compatible API base)' },
  prefix: { env: 'WALRELAY_TOPIC_PREFIX', help: 'topic prefix' },
  slot: { env: 'WALRELAY_SLOT', help: 'replication slot (repeatable)', multiple: true },
  publication: { env: 'WALRELAY_PUBLICATION', help: 'publication (drop-source --drop-publication)' },
  group: { env: 'WALRELAY_GROUP_ID', help: 'sink consumer group (repeatable)', multiple: true },
  target: { env: 'WALRELAY_TARGET_URL', help: 'sink target URL whose walrelay_offsets to read (repeatable)', multiple: true },
  'max-retained-wal-bytes': { env: 'WALRELAY_STATUS_MAX_RETAINED_WAL_BYTES', help: 'unhealthy above this WAL retained by a slot (default 1073741824)' },
  'max-lag-records': { env: 'WALRELAY_STATUS_MAX_LAG_RECORDS', help: 'unhealthy above this many records behind on a partition (default 100000)' },
  'max-lag-seconds': { env: 'WALRELAY_STATUS_MAX_LAG_SECONDS', help: 'unhealthy when the oldest change a target lacks is older (default 300)' },
};

export function asList(v: string | readonly string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : [...v];
}

export function loadCliConfig(file: string | undefined, flagEnv: Record<string, string>, env: NodeJS.ProcessEnv = process.env): CliConfig {
  return loadConfig(cliConfigSchema, { file, env: { ...env, ...flagEnv }, bindings: cliEnv });
}
