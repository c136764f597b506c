import { pgMicrosToUnixMs } from './protocol/index.js';

/**
 * How far behind the source is, in time: the age of the oldest PostgreSQL commit it has
 * received but not yet committed to Kafka (0 when nothing is pending). Kept for the life
 * of the process, across pipeline restarts, so a source that keeps failing on the same
 * transaction shows a lag that keeps growing until that transaction is confirmed.
 */
export class ReplicationLagClock {
  /** Commit time (µs since the PostgreSQL epoch) of the oldest pending transaction. */
  #oldestPending: bigint | null = null;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A transaction committed at `commitMicros` was received (its Begin). */
  received(commitMicros: bigint): void {
    if (this.#oldestPending === null) this.#oldestPending = commitMicros;
  }

  /**
   * A Kafka commit confirmed everything received so far except the transaction still
   * open, whose commit time is given (null when none is open).
   */
  confirmed(openCommitMicros: bigint | null): void {
    this.#oldestPending = openCommitMicros;
  }

  get seconds(): number {
    if (this.#oldestPending === null) return 0;
    return Math.max(0, (this.#now() - pgMicrosToUnixMs(this.#oldestPending)) / 1000);
  }
}

