import { z } from 'zod/v3';
import { commonConfig, tlsConfig, commonEnv, configFileFromArgs, loadConfig, parseTableName, tablesSetting, type EnvBindings } from '@walrelay/core';
import { lifecycleConfig, lifecycleEnv } from './lifecycle-config.js';
import { heartbeatConfig, heartbeatEnv } from './heartbeat/heartbeat.js';

const pgIdent = z.string().min(1).max(63, 'PostgreSQL names are at most 63 bytes');

export const sourceConfigSchema = z
  .object({
    ...commonConfig,
    postgres: z
      .object({
        url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').default('postgres://postgres@127.0.0.1:5432/postgres'),
        ssl: tlsConfig.optional(),
      })
      .strict()
      .default({}),
    slot: pgIdent.regex(/^[a-z0-9_]+$/, 'replication slot names are lower-case letters, digits and _').default('walrelay'),
    publication: pgIdent.default('walrelay'),
    /** Tables to capture as `schema.table` (or `table` for public); empty = every table with a key. */
    tables: tablesSetting,
    /**
     * Key columns per table (`{"schema.table": ["a", "b"]}`, Debezium's message.key.columns): key
     * a table that has no primary key or replica identity index, or re-key one. Checked at start:
     * a unique index on NOT NULL columns among them, and REPLICA IDENTITY FULL unless they are the
     * table's identity key.
     */
    keyColumns: z.record(z.string(), z.array(z.string().min(1)).min(1)).default({}),
    snapshot: z.enum(['initial', 'never', 'initial_only']).default('initial'),
    snapshotParallelism: z.number().int().min(1).max(32).default(2),
    snapshotFetchRows: z.number().int().min(1).max(1_000_000).default(5_000),
    /** Logical name in every record's source.name (default: the topic prefix). */
    connectorName: z.string().min(1).optional(),
    topics: z
      .object({
        partitions: z.number().int().min(1).max(10_000).default(3),
        replicationFactor: z.number().int().min(-1).max(32).default(-1),
        /** Default: true, except with format debezium (false: Debezium's truncate records have a null key, which compacted topics refuse). */
        compact: z.boolean().optional(),
        /**
         * min.compaction.lag.ms of compacted table topics (default 7 days): the log cleaner
         * leaves records younger than this alone, so a sink lagging less never misses a
         * delete, an unchanged-TOAST value's carrier or a truncate marker.
         */
        minCompactionLagMs: z.number().int().min(0).default(7 * 24 * 3600 * 1000),
        /** Extra topic configs for topics the source creates. */
        config: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({}),
    /**
     * Record format: `walrelay` (walrelay's own schemas, `pg` field properties, `unchanged_toast`)
     * or `debezium` (Debezium's PostgreSQL connector encodings and Connect schema parameters, for
     * consumers built for Debezium; walrelay's sinks read both).
     */
    format: z.enum(['walrelay', 'debezium']).default('walrelay'),
    /** Send a tombstone (null value) after each delete so compaction can drop the key. */
    tombstones: z.boolean().default(true),
    transactions: z
      .object({
        /** A Kafka transaction commits after this many changes… */
        maxChanges: z.number().int().min(1).default(20_000),
        /** …or this many bytes… */
        maxBytes: z.number().int().min(1024).default(32 * 1024 * 1024),
        /** …or when a committed PostgreSQL transaction has waited this long. */
        maxDelayMs: z.number().int().min(0).default(25),
        /**
         * Records sent into the open transaction in one produce request (or 4 MiB of them,
         * whichever comes first). Each buffered record is a few JS objects that outlive several
         * young-generation collections, so the batch filling and the one in flight set the
         * source's live heap: 2,000 kept the bench's peak at 120–143 MB where 5,000 reached
         * 126–173, at the same rate within the machine's swing (docs/performance.md, Session 21).
         */
        sendEveryRecords: z.number().int().min(1).default(2_000),
        timeoutMs: z.number().int().min(1000).default(60_000),
      })
      .strict()
      .default({}),
    /** How often a standby checks whether it can take over. */
    standbyPollMs: z.number().int().min(100).default(1_000),
    /** Standby status updates to PostgreSQL at least this often. */
    statusIntervalMs: z.number().int().min(100).default(5_000),
    ...lifecycleConfig,
    heartbeat: heartbeatConfig,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.format === 'debezium' && c.onSlotLost === 'resync') {
      ctx.addIssue({
        code: 'custom',
        path: ['onSlotLost'],
        message: "onSlotLost: resync truncates each table through a marker on every partition, which format debezium does not write (its one truncate record cannot be ordered on a multi-partition topic): use format walrelay, or onSlotLost: fail",
      });
    }
    if (c.format === 'debezium' && (c.topics.compact === true || /compact/.test(c.topics.config['cleanup.policy'] ?? ''))) {
      ctx.addIssue({
        code: 'custom',
        path: ['topics', 'compact'],
        message:
          "format debezium writes a truncate as Debezium does, with a null key, which Kafka refuses on a compacted topic: leave topics.compact unset (false with format debezium) or use format walrelay",
      });
    }
  })
  .transform((c) => ({ ...c, topics: { ...c.topics, compact: c.topics.compact ?? c.format !== 'debezium' } }));

export type SourceConfig = z.output<typeof sourceConfigSchema>;

export const sourceEnv: EnvBindings = {
  ...commonEnv,
  WALRELAY_PG_URL: { path: ['postgres', 'url'] },
  WALRELAY_PG_SSL: { path: ['postgres', 'ssl'], type: 'json' },
  WALRELAY_SLOT: { path: ['slot'] },
  WALRELAY_PUBLICATION: { path: ['publication'] },
  WALRELAY_TABLES: { path: ['tables'], type: 'list' },
  WALRELAY_KEY_COLUMNS: { path: ['keyColumns'], type: 'json' },
  WALRELAY_SNAPSHOT: { path: ['snapshot'] },
  WALRELAY_SNAPSHOT_PARALLELISM: { path: ['snapshotParallelism'], type: 'int' },
  WALRELAY_CONNECTOR_NAME: { path: ['connectorName'] },
  WALRELAY_TOPIC_PARTITIONS: { path: ['topics', 'partitions'], type: 'int' },
  WALRELAY_TOPIC_REPLICATION_FACTOR: { path: ['topics', 'replicationFactor'], type: 'int' },
  WALRELAY_TOPIC_MIN_COMPACTION_LAG_MS: { path: ['topics', 'minCompactionLagMs'], type: 'int' },
  WALRELAY_TOPIC_CONFIG: { path: ['topics', 'config'], type: 'json' },
  WALRELAY_FORMAT: { path: ['format'] },
  WALRELAY_TOMBSTONES: { path: ['tombstones'], type: 'bool' },
  WALRELAY_TX_MAX_CHANGES: { path: ['transactions', 'maxChanges'], type: 'int' },
  WALRELAY_TX_MAX_DELAY_MS: { path: ['transactions', 'maxDelayMs'], type: 'int' },
  ...lifecycleEnv,
  ...heartbeatEnv,
};

export function loadSourceConfig(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): SourceConfig {
  return loadConfig(sourceConfigSchema, { file: configFileFromArgs(argv), env, bindings: sourceEnv });
}

/** The one parser of the `tables` setting lives in the wire contract (core's wire/table-names.ts). */
export { parseTableName };
