/**
 * Headers of a dead-letter record (the original key and value, in the sink's dead-letter
 * topic, see deadLetterTopic).
 */
export const DLQ_HEADERS = {
  /** The reason, at most DLQ_REASON_MAX_LENGTH characters. */
  error: 'walrelay.error',
  /** The error's code (WalrelayError.code), or UNKNOWN. */
  code: 'walrelay.error.code',
  /** Where it failed: `decode`, `apply`, or `table` (its target table is refused). */
  stage: 'walrelay.error.stage',
  topic: 'walrelay.topic',
  partition: 'walrelay.partition',
  offset: 'walrelay.offset',
  /** The sink's dialect name (mysql, mssql, sqlite). */
  sink: 'walrelay.sink',
  /** The target table, when the record failed because its table is refused (stage `table`). */
  table: 'walrelay.table',
} as const;

export const DLQ_REASON_MAX_LENGTH = 4000;

export type DeadLetterStage = 'decode' | 'apply' | 'table';

export interface DeadLetterOrigin {
  readonly reason: string;
  readonly code: string;
  readonly stage: DeadLetterStage;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly sink: string;
  readonly table?: string;
}

/** The headers of one dead-letter record. */
export function deadLetterHeaders(o: DeadLetterOrigin): Record<string, string> {
  return {
    [DLQ_HEADERS.error]: o.reason.slice(0, DLQ_REASON_MAX_LENGTH),
    [DLQ_HEADERS.code]: o.code,
    [DLQ_HEADERS.stage]: o.stage,
    [DLQ_HEADERS.topic]: o.topic,
    [DLQ_HEADERS.partition]: String(o.partition),
    [DLQ_HEADERS.offset]: o.offset,
    [DLQ_HEADERS.sink]: o.sink,
    ...(o.table !== undefined ? { [DLQ_HEADERS.table]: o.table } : {}),
  };
}
