import { ConfigError, errorMessage, WalrelayError } from './errors.js';
import { createLogger, type Logger } from './logging.js';
import { createMetricsRegistry, startObservabilityServer, type HealthState, type Registry } from './observability.js';

/** What a long-running walrelay process (the source, a sink) exposes to its binary. */
export interface ServiceProcess extends HealthState {
  run(): Promise<void>;
  stop(): void;
}

export interface ServiceDefinition<C extends { logLevel: string; http: { host: string; port: number } }> {
  /** Binary name, e.g. walrelay-source. */
  readonly name: string;
  readonly loadConfig: () => C;
  /** Fields of the start-up log line (secrets already redacted). */
  readonly describe: (config: C) => Record<string, unknown>;
  readonly create: (config: C, log: Logger, registry: Registry) => ServiceProcess;
}

/**
 * The whole life of a binary: validated config (exit 2 naming the bad setting), JSON
 * logs, /metrics /healthz /readyz, SIGTERM/SIGINT for a graceful stop (a second signal
 * exits at once), and the exit code: 0 stopped, 1 failed, 2 bad configuration.
 */
export async function runService<C extends { logLevel: string; http: { host: string; port: number } }>(def: ServiceDefinition<C>): Promise<number> {
  let config: C;
  try {
    config = def.loadConfig();
  } catch (e) {
    process.stderr.write(`${def.name}: ${errorMessage(e)}\n`);
    return e instanceof ConfigError ? 2 : 1;
  }
  const log = createLogger(def.name, config.logLevel);
  log.info(def.describe(config), `${def.name} starting`);
  const registry = createMetricsRegistry(def.name);
  let service: ServiceProcess;
  try {
    service = def.create(config, log, registry);
  } catch (e) {
    log.fatal({ err: errorMessage(e) }, 'invalid settings');
    return e instanceof ConfigError ? 2 : 1;
  }
  const server = await startObservabilityServer({ host: config.http.host, port: config.http.port, registry, log, health: service });
  let signals = 0;
  const onSignal = (signal: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal }, 'signal received');
    service.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await service.run();
    log.info(`${def.name} stopped`);
    return 0;
  } catch (e) {
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, `${def.name} failed`);
    return e instanceof ConfigError ? 2 : 1;
  } finally {
    await server?.close();
    log.flush();
  }
}

/** Entry point of a binary: runs the service and exits with its code. */
export function serviceMain<C extends { logLevel: string; http: { host: string; port: number } }>(def: ServiceDefinition<C>): void {
  runService(def).then(
    (code) => setTimeout(() => process.exit(code), 50),
    (e: unknown) => {
      process.stderr.write(`${def.name}: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}
