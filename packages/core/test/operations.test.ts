import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { logLevel } from 'kafkajs';
import { captureLogger } from './fixtures/capture-logger.js';
import { z } from 'zod/v3';
import {
  commonConfig,
  commonEnv,
  ConfigError,
  describeSettings,
  FailureStreak,
  kafkaLogCreator,
  kafkaRequestQueuePatched,
  loadConfig,
  parseCommandLine,
  settingOrigin,
  UsageError,
} from '../src/index.js';

const schema = z.object({ ...commonConfig, nested: z.object({ size: z.number().int().min(1).default(5) }).strict().default({}) }).strict();
const bindings = { ...commonEnv, WALRELAY_SIZE: { path: ['nested', 'size'], type: 'int' as const } };

test('the command line: --help, -h, --version, --config forms; anything else is a usage error naming it', () => {
  assert.deepEqual(parseCommandLine(['--help']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['-h']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['--version']), { kind: 'version' });
  assert.deepEqual(parseCommandLine([]), { kind: 'run', configFile: undefined });
  assert.deepEqual(parseCommandLine(['--config', 'a.yaml']), { kind: 'run', configFile: 'a.yaml' });
  assert.deepEqual(parseCommandLine(['-c', 'a.yaml']), { kind: 'run', configFile: 'a.yaml' });
  assert.deepEqual(parseCommandLine(['--config=b.json']), { kind: 'run', configFile: 'b.json' });
  assert.throws(() => parseCommandLine(['--frobnicate']), (e: unknown) => e instanceof UsageError && /unknown option --frobnicate/.test(e.message));
  assert.throws(() => parseCommandLine(['-x']), /unknown option -x/);
  assert.throws(() => parseCommandLine(['start']), /unexpected argument "start"/);
  assert.throws(() => parseCommandLine(['--config']), /--config needs a file name/);
  // An unknown option wins over --help: nothing is guessed.
  assert.throws(() => parseCommandLine(['--help', '--bogus']), /--bogus/);
});

test('describeSettings lists every leaf of the schema with its environment variable and default', () => {
  const settings = describeSettings(schema, bindings);
  const byPath = new Map(settings.map((s) => [s.path, s]));
  for (const [name, b] of Object.entries(bindings)) assert.equal(byPath.get(b.path.join('.'))?.env, name, `${name} is listed`);
  assert.equal(byPath.get('kafka.brokers')?.defaultValue, '127.0.0.1:9092');
  assert.equal(byPath.get('http.port')?.defaultValue, '-1');
  assert.equal(byPath.get('http.port')?.accepts, 'integer -1..65535');
  assert.equal(byPath.get('nested.size')?.defaultValue, '5');
  assert.equal(byPath.get('logLevel')?.accepts, 'fatal | error | warn | info | debug | trace | silent');
  assert.equal(byPath.get('kafka.sasl.password')?.defaultValue, 'none');
  assert.ok(byPath.has('kafka.connectionTimeoutMs') && byPath.get('kafka.connectionTimeoutMs')?.env === undefined);
});

test('a bad value is reported with where it came from: the file key or the environment variable', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'walrelay-cfg-'));
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'http:\n  port: "eighty"\nnested:\n  size: 0\nbogus: 1\n');
  const err = (() => {
    try {
      loadConfig(schema, { file, env: {}, bindings });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, new RegExp(`http\\.port \\(key http\\.port in ${file.replace(/[.]/g, '\\.')}\\)`));
  assert.match(err.message, /nested\.size \(key nested\.size in /);
  assert.match(err.message, /bogus \(in .*c\.yaml\)/);
  assert.doesNotMatch(err.message, /WALRELAY_HTTP_PORT/, 'a file value is not blamed on the environment variable');
  // The environment wins, and is then named.
  assert.throws(() => loadConfig(schema, { file, env: { WALRELAY_HTTP_PORT: 'x', WALRELAY_SIZE: '3' }, bindings }), /http\.port \(WALRELAY_HTTP_PORT\): expected a whole number/);
  writeFileSync(file, 'nested:\n  size: 0\n');
  assert.throws(() => loadConfig(schema, { file, env: { WALRELAY_SIZE: '0' }, bindings }), /nested\.size \(WALRELAY_SIZE\)/);
  writeFileSync(file, 'http:\n  port: 8080\n');
  const ok = loadConfig(schema, { file, env: { WALRELAY_HTTP_HOST: '0.0.0.0' }, bindings });
  assert.equal(settingOrigin(ok, 'http.port'), `key http.port in ${file}`);
  assert.equal(settingOrigin(ok, 'http.host'), 'WALRELAY_HTTP_HOST');
  assert.equal(settingOrigin(ok, 'logLevel'), 'default');
});

test('FailureStreak: stalled after the same failure 3 times in a row, reset by progress', () => {
  const s = new FailureStreak(3);
  s.failed('a');
  s.failed('b');
  s.failed('b');
  assert.equal(s.stalled, undefined);
  s.failed('b');
  assert.match(s.stalled ?? '', /^b \(failed 3 times in a row\)$/);
  assert.equal(s.count, 4);
  s.progressed();
  assert.equal(s.stalled, undefined);
  assert.equal(s.count, 0);
});

test('kafkajs lines: connection retries and accounted-for warnings to debug, rebalances to info, the rest to warn once a minute', () => {
  const { log, lines } = captureLogger();
  const write = kafkaLogCreator(log)();
  const entry = (level: logLevel, namespace: string, message: string) => ({ namespace, level, label: 'x', log: { timestamp: 't', logger: 'kafkajs', message } });
  write(entry(logLevel.ERROR, 'Connection', 'Connection error: connect ECONNREFUSED 127.0.0.1:1'));
  write(entry(logLevel.ERROR, 'BrokerPool', 'Failed to connect to seed broker, trying another broker from the list: Connection error'));
  write(entry(logLevel.WARN, 'Producer', 'Limiting retries for the idempotent producer may invalidate EoS guarantees'));
  write(entry(logLevel.ERROR, 'Runner', 'The group is rebalancing, re-joining'));
  write(entry(logLevel.ERROR, 'Consumer', 'Something else broke'));
  write(entry(logLevel.ERROR, 'Consumer', 'Something else broke'));
  // As kafkajs logs a fresh broker's coordinators (captured from Kafka 4.1 on a new data directory).
  const response = (message: string, error: string) => ({ namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: 't', logger: 'kafkajs', message, error } });
  write(response('Response InitProducerId(key: 22, version: 1)', "The coordinator is loading and hence can't process requests for this group"));
  write(response('Response GroupCoordinator(key: 10, version: 2)', 'The group coordinator is not available'));
  write(response('Response Produce(key: 0, version: 7)', 'This server is not the leader for that topic-partition'));
  assert.deepEqual(
    lines.map((l) => l.level),
    ['debug', 'debug', 'debug', 'info', 'warn', 'debug', 'info', 'info', 'warn'],
  );
  assert.match(String(lines[3]!.msg), /rebalancing/);
  assert.match(String(lines[6]!.msg), /^kafka coordinator not ready yet \(retried\): The coordinator is loading/);
  assert.equal(lines.filter((l) => l.level === 'error').length, 0);
});

test('kafkajs request queue: no timer is armed when nothing is pending (the source of TimeoutNegativeWarning)', () => {
  assert.equal(kafkaRequestQueuePatched, true);
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (o: Record<string, unknown>) => {
    pending: unknown[];
    throttleCheckTimeoutId: unknown;
    throttledUntil: number;
    scheduleCheckPendingRequests(): void;
    destroy(): void;
  };
  const noop = (): void => undefined;
  const q = new RequestQueue({ instrumentationEmitter: { emit: noop }, maxInFlightRequests: 1, requestTimeout: 1000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger: { debug: noop, info: noop, warn: noop, error: noop, namespace: () => ({ debug: noop, info: noop, warn: noop, error: noop }) }, isConnected: () => true });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    q.scheduleCheckPendingRequests();
    assert.equal(q.throttleCheckTimeoutId, null, 'no timer with nothing pending and no throttle');
    q.pending.push({});
    q.throttledUntil = Date.now() + 50;
    q.scheduleCheckPendingRequests();
    assert.notEqual(q.throttleCheckTimeoutId, null, 'a pending request is checked when the throttle ends');
  } finally {
    q.destroy();
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});
