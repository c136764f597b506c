import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { registerHealthMetrics } from './health-metrics.js';

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
      res.writeHead(live ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ live }));
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
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ host: options.host, port }, 'metrics and health endpoints listening');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
