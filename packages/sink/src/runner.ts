import { createKafka, deadLetterTopic, registryClientFromConfig, type Logger, type Registry } from '@walrelay/core';
import type { SinkConfig } from './config.js';
import { createSinkMetrics } from './metrics.js';
import { RecordDecoder } from './record-decoder.js';
import { kafkaDeadLetterWriter, KafkaRecordSource } from './runtime/kafka-loop.js';
import { SinkRuntime, type SinkSession, type SinkState } from './runtime/sink-runtime.js';
import { topicSelector } from './runtime/topic-selection.js';
import type { TargetDriver } from './target.js';

export type { SinkState };

/**
 * The dialect-agnostic sink as the binaries run it: the SinkRuntime on Kafka (consumer
 * group over the table topics), the schema registry and the given target driver. Each
 * partition's batch is applied in one target transaction together with its offsets row;
 * on every assignment the sink seeks to the offsets stored in the target, so a crash at
 * any point neither loses nor repeats a change. See docs/sink-runtime.md for the parts.
 */
export class SinkRunner extends SinkRuntime {
  constructor(config: SinkConfig, driver: TargetDriver, log: Logger, registry: Registry) {
    const sinkName = driver.dialect;
    const select = topicSelector(config);
    super({
      config,
      driver,
      log,
      metrics: createSinkMetrics(registry),
      open: async (): Promise<SinkSession> => {
        const schemas = registryClientFromConfig(config.schemaRegistry);
        const kafka = createKafka(config.kafka, log, `walrelay-sink-${sinkName}`);
        const deadLetters = config.onError === 'dlq' ? await kafkaDeadLetterWriter(kafka, deadLetterTopic(config.topicPrefix, sinkName)) : undefined;
        return {
          source: new KafkaRecordSource(kafka, config, log, select),
          decoder: new RecordDecoder(schemas),
          ...(deadLetters ? { deadLetters } : {}),
          close: async () => schemas.close(),
        };
      },
    });
  }
}
