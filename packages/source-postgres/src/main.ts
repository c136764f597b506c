#!/usr/bin/env node
import { redactUrl, serviceMain } from '@walrelay/core';
import { loadSourceConfig } from './config.js';
import { Source } from './source.js';

serviceMain({
  name: 'walrelay-source',
  loadConfig: () => loadSourceConfig(),
  describe: (config) => ({
    postgres: redactUrl(config.postgres.url),
    kafka: config.kafka.brokers,
    registry: redactUrl(config.schemaRegistry.url),
    slot: config.slot,
    publication: config.publication,
    snapshot: config.snapshot,
    topicPrefix: config.topicPrefix,
  }),
  create: (config, log, registry) => {
    const source = new Source(config, log, registry);
    return {
      run: () => source.run(),
      stop: () => source.stop(),
      live: () => source.live(),
      ready: () => ({ ready: source.state === 'streaming', reason: source.state + (source.lastError ? `: ${source.lastError}` : '') }),
    };
  },
});
