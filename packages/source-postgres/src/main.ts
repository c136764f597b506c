#!/usr/bin/env node
import {
  ConfigError,
  createLogger,
  createMetricsRegistry,
  errorMessage,
  redactUrl,
  startObservabilityServer,
  WalrelayError,
} from '@walrelay/core';
import { loadSourceConfig } from './config.js';
import { Source } from './source.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadSourceConfig();
  } catch (e) {
    process.stderr.write(`walrelay-source: ${errorMessage(e)}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  const log = createLogger('walrelay-source', config.logLevel);
  log.info(
    {
      postgres: redactUrl(config.postgres.url),
      kafka: config.kafka.brokers,
      registry: redactUrl(config.schemaRegistry.url),
      slot: config.slot,
      publication: config.publication,
      snapshot: config.snapshot,
      topicPrefix: config.topicPrefix,
    },
    'walrelay-source starting',
  );
  const registry = createMetricsRegistry('walrelay-source');
  const source = new Source(config, log, registry);
  const server = await startObservabilityServer({
    host: config.http.host,
    port: config.http.port,
    registry,
    log,
    health: {
      live: () => source.live(),
      ready: () => ({ ready: source.state === 'streaming', reason: source.state + (source.lastError ? `: ${source.lastError}` : '') }),
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
    source.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await source.run();
    log.info('walrelay-source stopped');
    return 0;
  } catch (e) {
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, 'walrelay-source failed');
    return e instanceof ConfigError ? 2 : 1;
  } finally {
    await server?.close();
    log.flush();
  }
}

main().then(
  (code) => setTimeout(() => process.exit(code), 50),
  (e: unknown) => {
    process.stderr.write(`walrelay-source: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);
