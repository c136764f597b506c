/**
 * How PostgreSQL's `infinity` / `-infinity` travel in Avro (as Debezium does): the extreme
 * values of the field's type. The source writes them, the sinks recognise them.
 */
/** date: int32 max / min days. */
export const DATE_POS_INFINITY = 2_147_483_647;
export const DATE_NEG_INFINITY = -2_147_483_648;
/** timestamp, timestamptz: int64 max / min microseconds. */
export const TIMESTAMP_POS_INFINITY = 9_223_372_036_854_775_807n;
export const TIMESTAMP_NEG_INFINITY = -9_223_372_036_854_775_808n;
