import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, errorMessage, isRetriable, type Logger } from '@walrelay/core';

/** The runtime was asked to stop (SIGTERM): finish the batch in hand, then leave. */
export class StopSignal extends Error {
  constructor() {
    super('stop requested');
  }
}

/** New matching table topics exist: the consumer restarts to subscribe to them. */
export class TopicsChanged extends Error {
  readonly topics: readonly string[];
  constructor(topics: readonly string[]) {
    super('new topics to subscribe to');
    this.topics = topics;
  }
}

export interface RetrySettings {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What the run loop does after a session ended with `error`. */
export type RestartDecision =
  | { readonly action: 'stop' }
  | { readonly action: 'resubscribe'; readonly topics: readonly string[] }
  | { readonly action: 'fail' }
  | { readonly action: 'restart'; readonly delayMs: number };

/** Attempts of one target transaction before the whole session restarts. */
export const APPLY_ATTEMPTS = 9;
/** The session restart backoff stops growing after this many attempts. */
const RESTART_BACKOFF_CAP = 6;

/**
 * When to retry and when to give up. Two levels: a target transaction is retried in
 * place (retriable errors, up to APPLY_ATTEMPTS, with backoff and heartbeats); a session
 * (consumer, target connection, registry) that fails with a retriable error restarts
 * from the offsets stored in the target, forever, with capped backoff. Non-retriable
 * errors end the run.
 */
export class RestartPolicy {
  readonly #retry: RetrySettings;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(retry: RetrySettings, pause: (ms: number) => Promise<void> = (ms) => sleep(ms)) {
    this.#retry = retry;
    this.#sleep = pause;
  }

  afterSession(error: unknown, attempt: number, stopRequested: boolean): RestartDecision {
    if (stopRequested || error instanceof StopSignal) return { action: 'stop' };
    if (error instanceof TopicsChanged) return { action: 'resubscribe', topics: error.topics };
    if (!isRetriable(error)) return { action: 'fail' };
    return { action: 'restart', delayMs: backoffDelay(Math.min(attempt, RESTART_BACKOFF_CAP), this.#retry.initialMs, this.#retry.maxMs) };
  }

  wait(ms: number): Promise<void> {
    return this.#sleep(ms);
  }

  /**
   * Runs one target transaction, retrying retriable errors in place. `onRetry` counts and
   * logs; `heartbeat` keeps the partition's group membership alive while waiting.
   */
  async apply(
    fn: () => Promise<void>,
    options: { readonly stopping: () => boolean; readonly heartbeat?: () => Promise<void>; readonly onRetry?: (attempt: number) => void; readonly log: Logger },
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (e) {
        if (!isRetriable(e) || options.stopping() || attempt + 1 >= APPLY_ATTEMPTS) throw e;
        const delay = backoffDelay(attempt, this.#retry.initialMs, this.#retry.maxMs);
        options.onRetry?.(attempt);
        options.log.warn({ err: errorMessage(e), attempt: attempt + 1, retryInMs: delay }, 'target apply failed, retrying the batch');
        await this.#sleep(delay);
        await options.heartbeat?.().catch(() => undefined);
      }
    }
  }
}
