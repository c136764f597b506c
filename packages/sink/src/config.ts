import { z } from 'zod';
import { commonConfig, tlsConfig, commonEnv, configFileFromArgs, loadConfig, type EnvBindings } from '@walrelay/core';

export function sinkConfigSchema(dialect: string, defaultTargetUrl: string) {
  return z
    .object({
      ...commonConfig,
      target: z
        .object({
          url: z.string().min(1).default(defaultTargetUrl),
          /** TLS for the target connection: true, or CA / client cert files. */
          ssl: tlsConfig.optional(),
        })
        .strict()
        .prefault({}),
      groupId: z.string().min(1).default(`walrelay-sink-${dialect}`),
      /** Source tables to apply (`schema.table`); empty = every table topic under the prefix. */
      tables: z.array(z.string().min(1)).default([]),
      /** Target table per source table: { "public.orders": "orders_copy" }. Default: the source table name. */
      tableNames: z.record(z.string(), z.string().min(1)).default({}),
      /** Read topics from the beginning when the group has no stored offsets (replay). */
      fromBeginning: z.boolean().default(true),
      batch: z
        .object({
          /** Records applied in one target transaction at most. */
          maxRecords: z.number().int().min(1).max(100_000).default(5_000),
          /** Partitions applied concurrently by one process. */
          partitionsConcurrently: z.number().int().min(1).max(64).default(4),
          /** Bytes fetched per partition in one fetch request (kafkajs buffers up to this per assigned partition). */
          fetchBytesPerPartition: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).default(8 * 1024 * 1024),
        })
        .strict()
        .prefault({}),
      truncate: z.enum(['apply', 'ignore']).default('apply'),
      /** A record that cannot be decoded or stored: stop (fail) or send it to `<prefix>.dlq.<sink>` (dlq). */
      onError: z.enum(['fail', 'dlq']).default('fail'),
      retry: z
        .object({
          initialMs: z.number().int().min(1).default(200),
          maxMs: z.number().int().min(1).default(15_000),
        })
        .strict()
        .prefault({}),
      sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
      /** How often to look for new table topics (a table added to the publication). */
      topicRefreshMs: z.number().int().min(100).default(5_000),
    })
    .strict();
}

export type SinkConfig = z.output<ReturnType<typeof sinkConfigSchema>>;

export const sinkEnv: EnvBindings = {
  ...commonEnv,
  WALRELAY_TARGET_URL: { path: ['target', 'url'] },
  WALRELAY_TARGET_SSL: { path: ['target', 'ssl'], type: 'json' },
  WALRELAY_GROUP_ID: { path: ['groupId'] },
  WALRELAY_TABLES: { path: ['tables'], type: 'list' },
  WALRELAY_TABLE_NAMES: { path: ['tableNames'], type: 'json' },
  WALRELAY_BATCH_MAX_RECORDS: { path: ['batch', 'maxRecords'], type: 'int' },
  WALRELAY_PARTITIONS_CONCURRENTLY: { path: ['batch', 'partitionsConcurrently'], type: 'int' },
  WALRELAY_FETCH_BYTES_PER_PARTITION: { path: ['batch', 'fetchBytesPerPartition'], type: 'int' },
  WALRELAY_TRUNCATE: { path: ['truncate'] },
  WALRELAY_ON_ERROR: { path: ['onError'] },
  WALRELAY_FROM_BEGINNING: { path: ['fromBeginning'], type: 'bool' },
  WALRELAY_TOPIC_REFRESH_MS: { path: ['topicRefreshMs'], type: 'int' },
};

export function loadSinkConfig(
  dialect: string,
  defaultTargetUrl: string,
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): SinkConfig {
  return loadConfig(sinkConfigSchema(dialect, defaultTargetUrl), { file: configFileFromArgs(argv), env, bindings: sinkEnv });
}
