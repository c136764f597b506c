import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod/v3';
import { ConfigError, errorMessage, isRetriable, WalrelayError } from './errors.js';
import { createLogger, type Logger } from './logging.js';
import { createMetricsRegistry, startObservabilityServer, type HealthState, type Registry } from './observability.js';
import { describeSettings, loadConfig, settingOrigin, type EnvBindings } from './config.js';
import { backoffDelay } from './retry.js';
import { DEFAULT_IDLE_MEMORY_POLICY, startIdleMemoryRelease } from './idle-memory.js';
import { kafkajsReplacementsNotInForce } from './kafka-client.js';
import { crc32cImplementation } from '@walrelay/crc32c';

/** What a long-running walrelay process (the source, a sink) exposes to its binary. */
export interface ServiceProcess extends HealthState {
  run(): Promise<void>;
  stop(): void;
}

/** The settings every binary has (core's commonConfig). */
export interface ServiceConfig {
  readonly logLevel: string;
  readonly http: { readonly host: string; readonly port: number };
  readonly shutdownTimeoutMs: number;
  readonly idleMemoryReleaseMs: number;
}

/**
 * One service a binary must reach before it creates anything (publication, slot, topics,
 * offsets table). `check` makes one bounded attempt and throws what went wrong.
 */
export interface StartupCheck {
  /** e.g. `kafka`, `schema registry`, `postgresql`, `mysql`. */
  readonly service: string;
  /** Where (secrets redacted): brokers, URL, host:port/database. */
  readonly address: string;
  check(): Promise<void>;
}

export interface ServiceDefinition<C extends ServiceConfig> {
  /** Binary name, e.g. walrelay-source. */
  readonly name: string;
  /** What the binary does, for --help (one paragraph). */
  readonly summary: string;
  /** The one config definition: `--help` lists it, start-up validates against it. */
  readonly settings: { readonly schema: z.ZodType<C, z.ZodTypeDef, unknown>; readonly bindings: EnvBindings };
  /** Fields of the start-up log line (secrets already redacted). */
  readonly describe: (config: C) => Record<string, unknown>;
  /** The services to reach, in order, before `create` (default: none). */
  readonly checks?: (config: C, log: Logger) => readonly StartupCheck[];
  readonly create: (config: C, log: Logger, registry: Registry) => ServiceProcess;
}

/** Exit codes of every binary. */
export const EXIT = {
  /** Stopped by SIGTERM/SIGINT (or finished, e.g. snapshot mode initial_only). */
  OK: 0,
  /** Failed: the last log line says why. */
  FAILED: 1,
  /** Bad command line or configuration: nothing was touched. */
  USAGE: 2,
  /** A second SIGTERM/SIGINT: exited at once. */
  SECOND_SIGNAL: 130,
} as const;

export type CommandLine = { readonly kind: 'help' } | { readonly kind: 'version' } | { readonly kind: 'run'; readonly configFile: string | undefined };

/** A command line the binary does not understand. */
export class UsageError extends ConfigError {}

/**
 * The command line of every binary: `--config <file>` (`-c`, `--config=<file>`), `--help`
 * (`-h`), `--version` (`-V`). Anything else is a UsageError naming it.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let configFile: string | undefined;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--version' || a === '-V') version = true;
    else if (a === '--config' || a === '-c') {
      const file = argv[i + 1];
      if (file === undefined || file === '') throw new UsageError(`${a} needs a file name`);
      configFile = file;
      i++;
    } else if (a.startsWith('--config=')) {
      configFile = a.slice('--config='.length);
      if (configFile === '') throw new UsageError('--config= needs a file name');
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else throw new UsageError(`unexpected argument ${JSON.stringify(a)} (settings come from --config <file> and WALRELAY_* environment variables)`);
  }
  if (help) return { kind: 'help' };
  if (version) return { kind: 'version' };
  return { kind: 'run', configFile };
}

/** The version in the package.json nearest to the running entry point (the bin resolves symlinks). */
export function entryVersion(entry: string | undefined = process.argv[1]): string {
  if (!entry) return 'unknown';
  let dir: string;
  try {
    dir = path.dirname(realpathSync(entry));
  } catch {
    return 'unknown';
  }
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
        if (typeof pkg.version === 'string') return pkg.version;
      } catch {
        return 'unknown';
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}

function column(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => indent + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd((widths[i] as number) + 2))).join('').trimEnd()).join('\n');
}

/** The text of `--help`: what the binary does, its options, every setting (from the schema), the exit codes. */
export function helpText<C extends ServiceConfig>(def: ServiceDefinition<C>): string {
  const settings = describeSettings(def.settings.schema, def.settings.bindings);
  const lines: string[] = [];
  lines.push(`${def.name} ${entryVersion()}`, '', def.summary, '');
  lines.push(`Usage: ${def.name} [--config <file.yaml|file.json>]`, `       ${def.name} --help | --version`, '');
  lines.push('Options:');
  lines.push(
    column([
      ['-c, --config <file>', 'read settings from a YAML or JSON file (environment variables win over it)'],
      ['-h, --help', 'print this help and exit'],
      ['-V, --version', 'print the version and exit'],
    ]),
    '',
  );
  lines.push('Settings (file key, environment variable, default, accepted values; lists in the environment are comma-separated):');
  lines.push(column(settings.map((s) => [s.path, s.env ?? '-', s.defaultValue, s.accepts + (s.description ? `: ${s.description}` : '')])), '');
  lines.push('Exit codes:');
  lines.push(
    column([
      [String(EXIT.OK), 'stopped by SIGTERM/SIGINT after committing what was committable (or finished its work)'],
      [String(EXIT.FAILED), 'failed; the last log line says why'],
      [String(EXIT.USAGE), 'bad command line or configuration (named in the message); nothing was touched'],
      [String(EXIT.SECOND_SIGNAL), 'a second SIGTERM/SIGINT: exited at once'],
    ]),
    '',
  );
  lines.push('Logs: JSON lines on stderr. /metrics, /healthz and /readyz on http.host:http.port when http.port >= 0.');
  return `${lines.join('\n')}\n`;
}

/** Resolves when `signal` aborts (never rejects). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Reaches every service of `checks` in turn, one bounded attempt each; while one fails, logs
 * one line naming it, its address and the reason, and tries again with backoff. Returns
 * false when `signal` aborted first.
 */
export async function awaitServices(
  checks: readonly StartupCheck[],
  log: Logger,
  signal: AbortSignal,
  onWaiting: (reason: string | undefined) => void = () => undefined,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    let failure: { check: StartupCheck; error: unknown } | undefined;
    for (const check of checks) {
      if (signal.aborted) return false;
      const outcome = await Promise.race([
        check.check().then(
          () => undefined,
          (error: unknown) => ({ error }),
        ),
        aborted(signal).then(() => 'aborted' as const),
      ]);
      if (outcome === 'aborted') return false;
      if (outcome) {
        failure = { check, error: outcome.error };
        break;
      }
    }
    if (!failure) {
      onWaiting(undefined);
      if (attempt > 0) log.info({ services: checks.map((c) => c.service) }, 'every service is reachable');
      return true;
    }
    // A refusal (bad credentials, a wrong registry path) is final; unreachable is retried.
    if (!isRetriable(failure.error)) throw failure.error;
    const delay = backoffDelay(Math.min(attempt, 6), 1_000, 30_000);
    const reason = `${failure.check.service} at ${failure.check.address} unreachable: ${errorMessage(failure.error)}`;
    onWaiting(reason);
    log.warn(
      { dependency: failure.check.service, address: failure.check.address, err: errorMessage(failure.error), attempt: attempt + 1, retryInMs: delay },
      `${failure.check.service} at ${failure.check.address} unreachable; reconnecting in ${(delay / 1000).toFixed(1)} s (nothing has been created yet)`,
    );
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return false;
  }
}

/**
 * The whole life of a binary: the command line (`--help`, `--version`; anything unknown
 * exits 2 naming it), validated config (exit 2 naming the bad setting and where it came
 * from), JSON logs, /metrics /healthz /readyz, the start-up checks of every service before
 * anything is created, SIGTERM/SIGINT for a graceful stop bounded by `shutdownTimeoutMs` (a
 * second signal exits at once), and the exit code (see EXIT).
 */
export async function runService<C extends ServiceConfig>(def: ServiceDefinition<C>, argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let command: CommandLine;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`${def.name}: ${errorMessage(e)} (${def.name} --help lists the options and settings)\n`);
    return EXIT.USAGE;
  }
  if (command.kind === 'help') {
    process.stdout.write(helpText(def));
    return EXIT.OK;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${def.name} ${entryVersion()}\n`);
    return EXIT.OK;
  }
  let config: C;
  try {
    config = loadConfig(def.settings.schema, { file: command.configFile, env, bindings: def.settings.bindings });
  } catch (e) {
    // The level is not known yet (the configuration is what failed): log at the default.
    const log = createLogger(def.name, 'info');
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, e instanceof ConfigError ? 'invalid configuration' : `${def.name} failed`);
    log.flush();
    return e instanceof ConfigError ? EXIT.USAGE : EXIT.FAILED;
  }
  const log = createLogger(def.name, config.logLevel);
  const registry = createMetricsRegistry(def.name);
  const stopping = new AbortController();
  let service: ServiceProcess | undefined;
  let waiting: string | undefined = 'checking services';
  const health: HealthState = {
    live: () => service?.live() ?? true,
    ready: () => service?.ready() ?? { ready: false, reason: `starting: ${waiting ?? 'creating'}` },
    stalled: () => service?.stalled?.(),
  };
  let stopIdleRelease = (): void => undefined;
  let signals = 0;
  const onSignal = (signal: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      log.flush();
      process.exit(EXIT.SECOND_SIGNAL);
    }
    log.info({ signal, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'signal received: stopping');
    stopping.abort();
    service?.stop();
    // Whatever the process waits for (a retry, a broker that does not answer), it exits in time.
    setTimeout(() => {
      const state = service?.ready().reason ?? waiting ?? 'starting';
      log.warn({ signal, shutdownTimeoutMs: config.shutdownTimeoutMs, waitingFor: state }, `shutdown did not finish within ${config.shutdownTimeoutMs} ms: exiting without waiting further (what was not committed is redone after the restart)`);
      log.flush();
      process.exit(EXIT.OK);
    }, config.shutdownTimeoutMs).unref();
  };
  const onTerm = (): void => onSignal('SIGTERM');
  const onInt = (): void => onSignal('SIGINT');
  // The handlers are in place before the start-up line: a SIGTERM at any point after it is a graceful stop.
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  log.info({ version: entryVersion(), ...def.describe(config) }, `${def.name} starting`);
  const notReplaced = kafkajsReplacementsNotInForce();
  if (notReplaced.length > 0) {
    log.warn({ notReplaced }, `kafkajs runs without walrelay's replacement of some of its parts (${notReplaced.join(', ')}): kafkajs is not 2.2.4, or it loaded before @walrelay/core; throughput and memory are kafkajs' own`);
  }
  if (!crc32cImplementation.native) {
    log.warn({ reason: crc32cImplementation.reason }, `crc32c: record batches are checksummed in JavaScript, 7–15 times slower than with the CPU's instruction: ${crc32cImplementation.reason}`);
  }
  let server: Awaited<ReturnType<typeof startObservabilityServer>>;
  try {
    server = await startObservabilityServer({
      host: config.http.host,
      port: config.http.port,
      registry,
      log,
      health,
      origin: (setting) => settingOrigin(config, setting),
    });
  } catch (e) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, e instanceof ConfigError ? 'invalid configuration' : `${def.name} failed`);
    log.flush();
    return e instanceof ConfigError ? EXIT.USAGE : EXIT.FAILED;
  }
  try {
    const checks = def.checks?.(config, log) ?? [];
    if (checks.length > 0) {
      const reached = await awaitServices(checks, log, stopping.signal, (reason) => (waiting = reason));
      if (!reached) {
        log.info(`${def.name} stopped before every service was reachable`);
        return EXIT.OK;
      }
    }
    waiting = undefined;
    service = def.create(config, log, registry);
    stopIdleRelease = startIdleMemoryRelease({ ...DEFAULT_IDLE_MEMORY_POLICY, idleMs: config.idleMemoryReleaseMs }, log);
    if (stopping.signal.aborted) service.stop();
    await service.run();
    log.info(`${def.name} stopped`);
    return EXIT.OK;
  } catch (e) {
    log.fatal({ err: errorMessage(e), code: e instanceof WalrelayError ? e.code : undefined }, e instanceof ConfigError ? `invalid settings: ${errorMessage(e)}` : `${def.name} failed`);
    return e instanceof ConfigError ? EXIT.USAGE : EXIT.FAILED;
  } finally {
    stopIdleRelease();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    await server?.close();
    log.flush();
  }
}

/** Entry point of a binary: runs the service and exits with its code. */
export function serviceMain<C extends ServiceConfig>(def: ServiceDefinition<C>): void {
  runService(def).then(
    (code) => setTimeout(() => process.exit(code), 50),
    (e: unknown) => {
      process.stderr.write(`${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service: def.name, pid: process.pid, err: errorMessage(e), msg: `${def.name} failed` })}\n`);
      process.exit(EXIT.FAILED);
    },
  );
}
