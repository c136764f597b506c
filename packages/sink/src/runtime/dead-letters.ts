import { ConfigError, deadLetterHeaders, deadLetterTopic, errorMessage, WalrelayError, type DeadLetterStage, type Logger } from '@walrelay/core';
import type { SinkMetrics } from '../metrics.js';
import type { DeadLetterWriter, SourceRecord } from './record-source.js';
import { TableRefusedError } from './table-ddl.js';

/** Where a record failed: decoding it, applying it, or its table being refused by the target. */
export type FailureStage = DeadLetterStage;

const STAGE_VERB: Record<FailureStage, string> = { decode: 'decoded', apply: 'applied', table: 'stored (its table is refused)' };

/**
 * The `onError` policy for records the sink cannot decode or store. `fail`: throw an error
 * naming the record, the reason and the setting to change. `dlq`: write the original key
 * and value to `<prefix>.__walrelay_dlq.<sink>` with the reason in headers, count it, go on.
 */
export class DeadLetters {
  readonly #policy: 'fail' | 'dlq';
  readonly #writer: DeadLetterWriter | undefined;
  readonly #metrics: SinkMetrics;
  readonly #log: Logger;
  readonly #sink: string;
  readonly #topic: string;

  constructor(options: {
    readonly policy: 'fail' | 'dlq';
    readonly writer: DeadLetterWriter | undefined;
    readonly metrics: SinkMetrics;
    readonly log: Logger;
    readonly sink: string;
    readonly topicPrefix: string;
  }) {
    this.#policy = options.policy;
    this.#writer = options.writer;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#sink = options.sink;
    this.#topic = deadLetterTopic(options.topicPrefix, options.sink);
  }

  /** The dead-letter topic of this sink. */
  get topic(): string {
    return this.#topic;
  }

  /** Handles one record that failed at `stage`: throws under `fail`, writes a dead letter under `dlq`. */
  async handle(topic: string, partition: number, record: SourceRecord, error: unknown, stage: FailureStage, table?: string): Promise<void> {
    const reason = errorMessage(error);
    this.#metrics.deadLetters.inc({ topic, stage });
    if (table !== undefined && stage === 'table') this.#metrics.tableRefusedRecords.inc({ table });
    if (this.#policy === 'fail' || !this.#writer) {
      const message = `record ${topic}/${partition}@${record.offset} could not be ${STAGE_VERB[stage]}: ${reason} (onError=fail; set onError: dlq to send such records to ${this.#topic})`;
      const details = { topic, partition, offset: record.offset.toString(), stage, ...(table !== undefined ? { table } : {}) };
      // A configuration problem (two source tables mapped to one target name, a table name the
      // target cannot hold: tableNames) stays one: exit code 2.
      const configuration = error instanceof TableRefusedError ? error.configuration : error instanceof ConfigError;
      if (configuration) throw new ConfigError(message, { cause: error, details });
      throw new WalrelayError(error instanceof WalrelayError ? error.code : 'DECODE', message, { cause: error, details });
    }
    await this.#writer.send({
      key: record.key,
      value: record.value,
      headers: deadLetterHeaders({
        reason,
        code: error instanceof WalrelayError ? error.code : 'UNKNOWN',
        stage,
        topic,
        partition,
        offset: record.offset.toString(),
        sink: this.#sink,
        ...(table !== undefined ? { table } : {}),
      }),
    });
    this.#log.error({ topic, partition, offset: record.offset.toString(), stage, ...(table !== undefined ? { table } : {}), err: reason }, 'record sent to the dead-letter topic');
  }
}
