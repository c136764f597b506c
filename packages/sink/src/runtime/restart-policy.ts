import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, isRetriable, WalrelayError, withRetry, type Logger } from '@walrelay/core';

/** The runtime was asked to stop (SIGTERM): finish the batch in hand, then leave. Ends a session, never retried. */
export class StopSignal extends WalrelayError {
  constructor() {
    super('STOP_REQUESTED', 'stop requested');
  }
}

/** New matching table topics exist: the consumer restarts to subscribe to them. Ends a session, never retried. */
export class TopicsChanged extends WalrelayError {
  readonly topics: readonly string[];
  constructor(topics: readonly string[]) {
    super('TOPICS_CHANGED', `new topics to subscribe to: ${topics.join(', ')}`, { details: { topics } });
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
  apply(
    fn: () => Promise<void>,
    options: { readonly stopping: () => boolean; readonly heartbeat?: () => Promise<void>; readonly onRetry?: (attempt: number) => void; readonly log: Logger },
  ): Promise<void> {
    return withRetry('target apply', () => fn(), options.log, {
      initialMs: this.#retry.initialMs,
      maxMs: this.#retry.maxMs,
      attempts: APPLY_ATTEMPTS,
      stopped: options.stopping,
      pause: this.#sleep,
      onRetry: async (attempt) => {
        options.onRetry?.(attempt);
        await options.heartbeat?.().catch(() => undefined);
      },
    });
  }
}
