import type { RunningProcess } from './processes.js';
import { waitFor } from './wait.js';

/** The port a binary started with WALRELAY_HTTP_PORT=0 listens on (from its log line). */
export async function metricsPort(p: RunningProcess, timeoutMs = 60_000): Promise<number> {
  return waitFor(
    `${p.name} to log its metrics port`,
    () => {
      for (const line of p.output().split('\n')) {
        if (!line.includes('metrics and health endpoints listening')) continue;
        const port = (JSON.parse(line) as { port?: number }).port;
        if (typeof port === 'number' && port > 0) return port;
      }
      return undefined;
    },
    { timeoutMs, describe: () => p.output().slice(-2000) },
  );
}

/** One sample value of `name` (with all of `labels`) from a /metrics page, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const body = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}
