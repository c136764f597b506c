import { createHash } from 'node:crypto';

/**
 * A truncate travels as one marker record per partition of the table's topic: key
 * TRUNCATE_KEY (plain bytes, not Avro, so compaction keeps each partition's last marker),
 * value an envelope with op `t`, and these headers.
 */
export const TRUNCATE_KEY_TEXT = '__walrelay_truncate__';
export const TRUNCATE_KEY: Buffer = Buffer.from(TRUNCATE_KEY_TEXT, 'utf8');
/** Header: how many partitions the marker was written to (one marker each). */
export const TRUNCATE_HEADER = 'walrelay.truncate';
/** Header: `<commit LSN>:<position in the transaction>`, the same on every partition's marker. */
export const TRUNCATE_ID_HEADER = 'walrelay.truncate.id';

/**
 * Header on the truncate markers of a resync (`onSlotLost: resync`, value `1`): the table is
 * truncated because the slot was lost, and its rows arrive again through an incremental
 * snapshot. A sink that ignores truncates warns about these: its target keeps rows deleted while
 * the slot was gone.
 */
export const RESYNC_HEADER = 'walrelay.resync';

/** The value of TRUNCATE_ID_HEADER for a truncate at this position. */
export function truncateId(commitLsn: bigint, txSeq: bigint): string {
  return `${commitLsn}:${txSeq}`;
}

/**
 * The two walrelay_offsets row names ("topic" column) of a topic's truncate barrier in a
 * target: arrivals and releases. Fixed per topic, whatever number of truncates.
 */
export function barrierTopics(topic: string): { arrivalTopic: string; doneTopic: string } {
  const hash = createHash('sha1').update(topic).digest('hex').slice(0, 16);
  return { arrivalTopic: `__walrelay_truncate:${hash}`, doneTopic: `__walrelay_truncate_done:${hash}` };
}
