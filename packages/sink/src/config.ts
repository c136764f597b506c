import { z } from 'zod/v3';
import {
  commonConfig,
  tlsConfig,
  commonEnv,
  configFileFromArgs,
  loadConfig,
  parseTableName,
  parseTablesSetting,
  tableTopic,
  tablesSetting,
  type EnvBindings,
  type TableName,
} from '@walrelay/core';

export function sinkConfigSchema(dialect: string, defaultTargetUrl: string) {
  return z
    .object({
      ...commonConfig,
      target: z
        .object({
          url: z.string().min(1).default(defaultTargetUrl),
          /** TLS for the target connection: true, or CA / client cert files. */
          ssl: tlsConfig.optional(),
          /**
           * SQLite only: the page cache of the target connection in KiB (SQLite's cache_size;
           * the SQLite sink's default is 4096). Another dialect refuses it.
           */
          cacheSizeKiB: z
            .number()
            .int()
            .min(256)
            .max(4 * 1024 * 1024)
            .optional()
            .describe("SQLite only: the target connection's page cache in KiB (default 4096)"),
        })
        .strict()
        .superRefine((target, ctx) => {
          if (dialect !== 'sqlite' && target.cacheSizeKiB !== undefined) {
            ctx.addIssue({ code: 'custom', path: ['cacheSizeKiB'], message: `applies to the SQLite sink only, not to walrelay-sink-${dialect}: remove it` });
          }
        })
        .default({}),
      groupId: z.string().min(1).default(`walrelay-sink-${dialect}`),
      /**
       * Source tables to apply (`schema.table`, `table` for public, `"quoted"` parts: the
       * source's syntax, one parser in core); empty = every table topic under the prefix.
       */
      tables: tablesSetting,
      /**
       * Target table per source table: { "public.orders": "orders_copy" }, keys in the `tables`
       * syntax. Default: the source table name. Keys come out as `schema.table` (exact names
       * joined by a dot), the form the runtime looks up.
       */
      tableNames: z
        .record(z.string(), z.string().min(1))
        .default({})
        .transform((names, ctx) => {
          const out: Record<string, string> = {};
          for (const [spec, target] of Object.entries(names)) {
            try {
              const t = parseTableName(spec);
              const key = `${t.schema}.${t.table}`;
              if (key in out) ctx.addIssue({ code: 'custom', message: `${spec}: names the same table (${key}) as another entry`, path: [spec] });
              out[key] = target;
            } catch (e) {
              ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e), path: [spec] });
            }
          }
          return out;
        }),
      /** Read topics from the beginning when the group has no stored offsets (replay). */
      fromBeginning: z.boolean().default(true),
      batch: z
        .object({
          /** Records applied in one target transaction at most. */
          maxRecords: z.number().int().min(1).max(100_000).default(5_000),
          /** Partitions applied concurrently by one process. */
          partitionsConcurrently: z.number().int().min(1).max(64).default(4),
          /** Bytes fetched per partition in one fetch request (kafkajs buffers up to this per assigned partition). */
          fetchBytesPerPartition: z.number().int().min(64 * 1024).max(256 * 1024 * 1024).default(1024 * 1024),
        })
        .strict()
        .default({}),
      truncate: z.enum(['apply', 'ignore']).default('apply'),
      /** A record that cannot be decoded or stored: stop (fail) or send it to `<prefix>.__walrelay_dlq.<sink>` (dlq). */
      onError: z.enum(['fail', 'dlq']).default('fail'),
      retry: z
        .object({
          initialMs: z.number().int().min(1).default(200),
          maxMs: z.number().int().min(1).default(15_000),
        })
        .strict()
        .default({}),
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
  WALRELAY_TARGET_CACHE_SIZE_KIB: { path: ['target', 'cacheSizeKiB'], type: 'int' },
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

/** The configured source tables (empty: every table topic under the prefix). */
export function configuredTables(config: Pick<SinkConfig, 'tables'>): TableName[] {
  return parseTablesSetting(config.tables);
}

/** The topics of the configured source tables (the source's topic naming, core's wire/topic-naming.ts). */
export function configuredTableTopics(config: Pick<SinkConfig, 'tables' | 'topicPrefix'>): string[] {
  return configuredTables(config).map((t) => tableTopic(config.topicPrefix, t.schema, t.table));
}
