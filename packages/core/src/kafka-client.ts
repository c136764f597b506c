import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { z } from 'zod';
import type { Logger } from 'pino';
import { tlsOptions, type kafkaConfig } from './config.js';

export type KafkaSettings = z.output<typeof kafkaConfig>;

/** A kafkajs client configured from walrelay settings, logging through pino. */
export function createKafka(settings: KafkaSettings, log: Logger, clientId?: string): Kafka {
  const ssl = typeof settings.ssl === 'boolean' ? settings.ssl : tlsOptions(settings.ssl);
  const config: KafkaConfig = {
    clientId: clientId ?? settings.clientId,
    brokers: settings.brokers,
    ssl,
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log;
      const fields = { kafka: entry.namespace, ...extra };
      if (entry.level <= logLevel.ERROR) log.error(fields, message);
      else if (entry.level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    },
  };
  if (settings.sasl) config.sasl = settings.sasl as SASLOptions;
  return new Kafka(config);
}
