import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { kafkaConfig } from './config.js';

export type KafkaSettings = z.output<typeof kafkaConfig>;

/** A kafkajs client configured from walrelay settings, logging through pino. */
export function createKafka(settings: KafkaSettings, log: Logger, clientId?: string): Kafka {
  const ssl =
    typeof settings.ssl === 'boolean'
      ? settings.ssl
      : {
          rejectUnauthorized: settings.ssl.rejectUnauthorized,
          ...(settings.ssl.caFile ? { ca: [readFileSync(settings.ssl.caFile, 'utf8')] } : {}),
          ...(settings.ssl.certFile ? { cert: readFileSync(settings.ssl.certFile, 'utf8') } : {}),
          ...(settings.ssl.keyFile ? { key: readFileSync(settings.ssl.keyFile, 'utf8') } : {}),
        };
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
