import { kafkaCheck, redactUrl, registryCheck, serviceMain, type Logger } from '@walrelay/core';
import { sinkConfigSchema, sinkEnv, type SinkConfig } from './config.js';
import { SinkRunner } from './runner.js';
import type { TargetDriver } from './target.js';

/** Entry point of the dialect packages' binaries (walrelay-sink-<dialect>). */
export function sinkMain(options: {
  readonly dialect: string;
  /** The target, for --help (e.g. "MySQL or MariaDB"). */
  readonly targetName?: string;
  readonly defaultTargetUrl: string;
  readonly createDriver: (config: SinkConfig, log: Logger) => TargetDriver;
}): void {
  const target = options.targetName ?? options.dialect;
  serviceMain({
    name: `walrelay-sink-${options.dialect}`,
    summary: `Applies the table topics written by walrelay-source (or Debezium's PostgreSQL connector) to ${target}: consumes them in a consumer group, creates and widens the tables from the Avro schemas, and applies each partition's batch in one target transaction together with its row in walrelay_offsets (exactly-once effect). Start more processes with the same groupId to scale out. Creates walrelay_offsets and the tables only after Kafka, the registry and the target have been reached.`,
    settings: { schema: sinkConfigSchema(options.dialect, options.defaultTargetUrl), bindings: sinkEnv },
    describe: (config) => ({
      target: redactUrl(config.target.url),
      kafka: config.kafka.brokers,
      registry: redactUrl(config.schemaRegistry.url),
      groupId: config.groupId,
      topicPrefix: config.topicPrefix,
      onError: config.onError,
    }),
    checks: (config, log) => [
      kafkaCheck(config.kafka, log),
      registryCheck(config.schemaRegistry),
      {
        service: options.dialect,
        address: redactUrl(config.target.url),
        check: async () => {
          // Connecting creates nothing but the connection (an SQLite file is opened or created).
          const driver = options.createDriver(config, log);
          try {
            await driver.connect();
          } finally {
            await driver.close().catch(() => undefined);
          }
        },
      },
    ],
    create: (config, log, registry) => {
      const runner = new SinkRunner(config, options.createDriver(config, log), log, registry);
      return {
        run: () => runner.run(),
        stop: () => runner.stop(),
        live: () => runner.live(),
        ready: () => ({ ready: runner.state === 'running', reason: runner.state + (runner.lastError ? `: ${runner.lastError}` : '') }),
      };
    },
  });
}
