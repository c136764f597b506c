import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable, errorMessage } from './errors.js';
import type { Logger } from 'pino';

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  /** Give up after this many attempts (default: never, until `signal` aborts). */
  readonly attempts?: number;
  readonly signal?: AbortSignal;
}

/** Exponential backoff with jitter. */
export function backoffDelay(attempt: number, initialMs = 250, maxMs = 15_000): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

/**
 * Runs `fn` until it succeeds, retrying errors that `isRetriable` (or `retriable`)
 * accepts with backoff, and logging what is unreachable each time.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  log: Logger,
  options: BackoffOptions & { retriable?: (e: unknown) => boolean } = {},
): Promise<T> {
  const retriable = options.retriable ?? isRetriable;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!retriable(e) || (options.attempts !== undefined && attempt + 1 >= options.attempts) || options.signal?.aborted) throw e;
      const delay = backoffDelay(attempt, options.initialMs, options.maxMs);
      log.warn({ attempt: attempt + 1, retryInMs: delay, err: errorMessage(e) }, `${what} failed, retrying`);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined).catch(() => undefined);
    }
  }
}
