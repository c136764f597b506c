import {
  ConfigError,
  createLogger,
  createMetricsRegistry,
  errorMessage,
  redactUrl,
  startObservabilityServer,
  WalrelayError,
  type Logger,
} from '@walrelay/core';
import { loadSinkConfig, type SinkConfig } from './config.js';
import { SinkRunner } from './runner.js';
import type { TargetDriver } from './target.js';

/** The whole life of a sink binary: config, logging, metrics/health, signals, run. */
export async function runSinkBinary(options: {
  readonly dialect: string;
  readonly defaultTargetUrl: string;
  readonly createDriver: (config: SinkConfig, log: Logger) => TargetDriver;
}): Promise<number> {
  const name = `walrelay-sink-${options.dialect}`;
  let config: SinkConfig;
  try {
    config = loadSinkConfig(options.dialect, options.defaultTargetUrl);
  } catch (e) {
    process.stderr.write(`${name}: ${errorMessage(e)}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  const log = createLogger(name, config.logLevel);
  log.info(
    { target: redactUrl(config.target.url), kafka: config.kafka.brokers, registry: redactUrl(config.schemaRegistry.url), groupId: config.groupId, topicPrefix: config.topicPrefix, onError: config.onError },
    `${name} starting`,
  );
  let driver: TargetDriver;
  try {
    driver = options.createDriver(config, log);
  } catch (e) {
    log.fatal({ err: errorMessage(e) }, 'invalid target settings');
    return 2;
  }
  const registry = createMetricsRegistry(name);
  const runner = new SinkRunner(config, driver, log, registry);
  const server = await startObservabilityServer({
    host: config.http.host,
    port: config.http.port,
    registry,
    log,
    health: {
      live: () => runner.live(),
      ready: () => ({ ready: runner.state === 'running', reason: runner.state + (runner.lastError ? `: ${runner.lastError}` : '') }),
    },
  });
  let signals = 0;
  const onSignal = (signal: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal }, 'signal received');
    runner.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await runner.run();
    log.info(`${name} stopped`);
    return 0;
  } catch (e) {
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, `${name} failed`);
    return e instanceof ConfigError ? 2 : 1;
  } finally {
    await server?.close();
    log.flush();
  }
}

/** Entry point helper for the dialect packages' bin scripts. */
export function sinkMain(options: Parameters<typeof runSinkBinary>[0]): void {
  runSinkBinary(options).then(
    (code) => setTimeout(() => process.exit(code), 50),
    (e: unknown) => {
      process.stderr.write(`walrelay-sink-${options.dialect}: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}
