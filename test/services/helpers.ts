// Small helpers shared by the service tests (test/services/*.test.ts). Self-contained on purpose:
// these tests check the services, and must not depend on the product's packages.
import { setTimeout as sleep } from 'node:timers/promises';

export const KAFKA_BROKERS = (process.env.WALRELAY_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const REGISTRY_URL = process.env.WALRELAY_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
export const PG_URL = process.env.WALRELAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/walrelay';
export const MYSQL_URL = process.env.WALRELAY_TEST_MYSQL_URL ?? 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test';

/** A name unique to this run, so reruns against long-lived services never collide. */
export function unique(base: string): string {
  return `${base}-${Date.now().toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

/** Polls `check` until it returns something other than undefined/false; fails after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(50);
  }
}
