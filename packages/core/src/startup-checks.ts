import { errorMessage } from './errors.js';
import { checkKafka, type KafkaSettings } from './kafka-client.js';
import { redactUrl, type Logger } from './logging.js';
import { registryClientFromConfig } from './schema-registry.js';
import type { registryConfig } from './config.js';
import type { z } from 'zod/v3';
import type { StartupCheck } from './service.js';

/** The start-up check of the Kafka brokers (one bounded attempt, see checkKafka). */
export function kafkaCheck(settings: KafkaSettings, log: Logger): StartupCheck {
  return { service: 'kafka', address: settings.brokers.join(','), check: () => checkKafka(settings, log) };
}

/**
 * The start-up check of the schema registry: one request (the versions of a subject that
 * does not exist, which any Confluent-compatible registry answers with 404), so the URL,
 * credentials and TLS are all verified without listing or creating anything.
 */
export function registryCheck(settings: z.output<typeof registryConfig>): StartupCheck {
  return {
    service: 'schema registry',
    address: redactUrl(settings.url),
    check: async () => {
      const client = registryClientFromConfig(settings);
      try {
        await client.versions('__walrelay_startup_check__');
      } catch (e) {
        throw e instanceof Error ? e : new Error(errorMessage(e));
      } finally {
        client.close();
      }
    },
  };
}
