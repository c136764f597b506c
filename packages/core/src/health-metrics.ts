import { Gauge, type Registry } from 'prom-client';

/**
 * `walrelay_ready` and `walrelay_live` (1 or 0, read from the process's health at every
 * scrape), so dashboards and alerts see not-ready time without probing /readyz themselves.
 */
export function registerHealthMetrics(registry: Registry, health: { live(): boolean; ready(): { ready: boolean } }): void {
  new Gauge({
    name: 'walrelay_ready',
    help: '1 while /readyz answers 200 (the source streams, the sink consumes), else 0',
    registers: [registry],
    collect() {
      this.set(health.ready().ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'walrelay_live',
    help: '1 while /healthz answers 200, else 0',
    registers: [registry],
    collect() {
      this.set(health.live() ? 1 : 0);
    },
  });
}
