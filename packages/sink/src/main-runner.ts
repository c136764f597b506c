import { redactUrl, serviceMain, type Logger } from '@walrelay/core';
import { loadSinkConfig, type SinkConfig } from './config.js';
import { SinkRunner } from './runner.js';
import type { TargetDriver } from './target.js';

/** Entry point of the dialect packages' binaries (walrelay-sink-<dialect>). */
export function sinkMain(options: {
  readonly dialect: string;
  readonly defaultTargetUrl: string;
  readonly createDriver: (config: SinkConfig, log: Logger) => TargetDriver;
}): void {
  serviceMain({
    name: `walrelay-sink-${options.dialect}`,
    loadConfig: () => loadSinkConfig(options.dialect, options.defaultTargetUrl),
    describe: (config) => ({
      target: redactUrl(config.target.url),
      kafka: config.kafka.brokers,
      registry: redactUrl(config.schemaRegistry.url),
      groupId: config.groupId,
      topicPrefix: config.topicPrefix,
      onError: config.onError,
    }),
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
