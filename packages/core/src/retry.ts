import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable, errorMessage } from './errors.js';
import type { Logger } from 'pino';

/** Exponential backoff with jitter: attempt 0 waits about initialMs, capped at maxMs. */
export function backoffDelay(attempt: number, initialMs = 250, maxMs = 15_000): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export interface RetryOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** Give up after this many attempts (default: never, until `signal` aborts or `stopped` says so). */
  readonly attempts?: number;
  /** Aborts the wait between attempts; no attempt starts after it. */
  readonly signal?: AbortSignal;
  /** Checked before each retry: true gives up with the last error (e.g. a shutdown was requested). */
  readonly stopped?: () => boolean;
  /** Which errors to retry (default: isRetriable, core's classification). */
  readonly retriable?: (e: unknown) => boolean;
  /** Called after each wait, before the next attempt (count a retry metric, send a heartbeat). */
  readonly onRetry?: (attempt: number, error: unknown) => void | Promise<void>;
  /** How to wait between attempts (default: a timer; state-machine tests pass their own clock). */
  readonly pause?: (ms: number) => Promise<void>;
}

/**
 * The one retry helper: runs `fn` until it succeeds, retrying errors the classification
 * calls retriable with backoff and logging each failure (`what` names the work).
 */
export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, log: Logger, options: RetryOptions = {}): Promise<T> {
  const retriable = options.retriable ?? isRetriable;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const exhausted = options.attempts !== undefined && attempt + 1 >= options.attempts;
      if (!retriable(e) || exhausted || options.signal?.aborted || options.stopped?.()) throw e;
      const delay = backoffDelay(attempt, options.initialMs, options.maxMs);
      log.warn({ attempt: attempt + 1, retryInMs: delay, err: errorMessage(e) }, `${what} failed, retrying`);
      if (options.pause) await options.pause(delay);
      else await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined).catch(() => undefined);
      if (options.signal?.aborted) throw e;
      await options.onRetry?.(attempt + 1, e);
    }
  }
}
