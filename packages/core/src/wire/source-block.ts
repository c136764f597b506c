/**
 * The `source` block of every change envelope (also published as schemas/source.avsc;
 * a unit test keeps the two equal). Debezium's PostgreSQL field names, plus commit_lsn
 * and tx_seq (the change's position inside its transaction).
 */
export const SOURCE_SCHEMA = {
  type: 'record',
  name: 'Source',
  namespace: 'io.walrelay',
  fields: [
    { name: 'version', type: 'string' },
    { name: 'connector', type: 'string' },
    { name: 'name', type: 'string' },
    { name: 'ts_ms', type: 'long' },
    { name: 'ts_us', type: ['null', 'long'], default: null },
    { name: 'snapshot', type: ['string', 'null'], default: 'false' },
    { name: 'db', type: 'string' },
    { name: 'sequence', type: ['null', 'string'], default: null },
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    { name: 'txId', type: ['null', 'long'], default: null },
    { name: 'lsn', type: ['null', 'long'], default: null },
    { name: 'commit_lsn', type: ['null', 'long'], default: null },
    { name: 'tx_seq', type: ['null', 'long'], default: null },
    { name: 'xmin', type: ['null', 'long'], default: null },
  ],
} as const;

export interface SourceBlock {
  version: string;
  connector: string;
  name: string;
  ts_ms: bigint;
  ts_us: bigint | null;
  snapshot: string | null;
  db: string;
  sequence: string | null;
  schema: string;
  table: string;
  txId: bigint | null;
  lsn: bigint | null;
  commit_lsn: bigint | null;
  tx_seq: bigint | null;
  xmin: bigint | null;
}

export type Op = 'c' | 'u' | 'd' | 'r' | 't';

/** A decoded change envelope. Row images are keyed by Avro field name. */
export interface ChangeEnvelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: SourceBlock;
  op: Op;
  ts_ms: bigint | null;
  unchanged_toast: string[];
}
