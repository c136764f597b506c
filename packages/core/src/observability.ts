import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { registerHealthMetrics } from './health-metrics.js';
import { ConfigError } from './errors.js';
import { http } from './node-http.js';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'walrelay_process_' });
  return registry;
}

/** What /healthz and /readyz report. Live = the process loop is turning; ready = it does its work. */
export interface HealthState {
  live(): boolean;
  ready(): { ready: boolean; reason: string };
  /** Why the process is not live (for /healthz), when it says. */
  stalled?(): string | undefined;
}

export interface ObservabilityServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves /metrics (Prometheus), /healthz and /readyz. */
export async function startObservabilityServer(options: {
  host: string;
  port: number;
  registry: Registry;
  health: HealthState;
  log: Logger;
  /** Where http.host / http.port came from, for the error when the port is taken. */
  origin?: (setting: 'http.host' | 'http.port') => string;
}): Promise<ObservabilityServer | undefined> {
  if (options.port < 0) return undefined;
  registerHealthMetrics(options.registry, options.health);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(text);
        })
        .catch((e: Error) => {
          res.writeHead(500);
          res.end(e.message);
        });
      return;
    }
    if (path === '/healthz') {
      const live = options.health.live();
      const reason = live ? undefined : options.health.stalled?.();
      res.writeHead(live ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reason === undefined ? { live } : { live, reason }));
      return;
    }
    if (path === '/readyz') {
      const r = options.health.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const port = `http.port ${options.port} (${options.origin?.('http.port') ?? 'setting'})`;
      const host = `http.host ${options.host} (${options.origin?.('http.host') ?? 'setting'})`;
      if (e.code === 'EADDRINUSE') reject(new ConfigError(`${port}: ${options.host}:${options.port} is already in use by another process; choose another http.port (0 picks a free one, -1 turns the endpoints off)`, { cause: e }));
      else if (e.code === 'EACCES') reject(new ConfigError(`${port}: not allowed to listen on ${options.host}:${options.port} (${e.message})`, { cause: e }));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reject(new ConfigError(`${host}: cannot listen on this address (${e.message})`, { cause: e }));
      else reject(new ConfigError(`${port}: cannot listen on ${options.host}:${options.port}: ${e.message}`, { cause: e }));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ host: options.host, port }, 'metrics and health endpoints listening');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Consecutive failures of a process loop that restarts itself: after `limit` identical
 * ones in a row without progress in between, the process is stalled (for /healthz), and
 * until progress it is not ready (for /readyz).
 */
export class FailureStreak {
  readonly #limit: number;
  #count = 0;
  #identical = 0;
  #last: string | undefined;

  constructor(limit = 3) {
    this.#limit = limit;
  }

  /** A failure; returns how many identical ones are in a row now. */
  failed(reason: string): number {
    this.#count++;
    this.#identical = reason === this.#last ? this.#identical + 1 : 1;
    this.#last = reason;
    return this.#identical;
  }

  /** The loop made progress: the streak ends. */
  progressed(): void {
    this.#count = 0;
    this.#identical = 0;
    this.#last = undefined;
  }

  /** Failures since the last progress. */
  get count(): number {
    return this.#count;
  }

  get lastReason(): string | undefined {
    return this.#last;
  }

  /** The reason, once it failed `limit` times in a row the same way without progress. */
  get stalled(): string | undefined {
    return this.#identical >= this.#limit ? `${this.#last} (failed ${this.#identical} times in a row)` : undefined;
  }
}
