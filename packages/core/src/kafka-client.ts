import { createRequire } from 'node:module';
// Before kafkajs: a linear per-partition grouping in place of kafkajs' quadratic one, a
// request framing and a produce request encoder that write one buffer each, and a fetched-record
// decoder without 64-bit Long arithmetic (kafkajs-partition-grouping.ts, kafkajs-request-framing.ts,
// kafkajs-produce-request.ts, kafkajs-record-decoder.ts).
import { kafkaGroupingPatched } from './kafkajs-partition-grouping.js';
import { kafkaRequestFramingPatched } from './kafkajs-request-framing.js';
import { kafkaProduceEncoderPatched } from './kafkajs-produce-request.js';
import { kafkaRecordDecoderPatched } from './kafkajs-record-decoder.js';
// zstd in kafkajs' codec table, for the producers and consumers made here.
import './kafka-compression.js';
import { releasingSocketFactory } from './socket-write-release.js';
import type { KafkaConfig, LogEntry, ProducerConfig, Producer, SASLOptions } from 'kafkajs';
import type { z } from 'zod/v3';
import type { Logger } from 'pino';
import { tlsOptions, type kafkaConfig } from './config.js';
import { ConnectionError, errorMessage } from './errors.js';

// kafkajs is CommonJS, loaded here, at this point of the evaluation, through `require` (not an
// `import`, which a bundler hoists above every module): the replacements of its modules imported
// above must be in the module cache before it loads them (the binaries' bundles, scripts/bundle.mjs).
const kafkajs = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs');
const { Kafka, logLevel, Partitioners } = kafkajs;
type Kafka = InstanceType<typeof Kafka>;

/** kafkajs' config resource type of a topic (for describeConfigs). */
export const TOPIC_CONFIG_RESOURCE = kafkajs.ConfigResourceTypes.TOPIC;

export type KafkaSettings = z.output<typeof kafkaConfig>;

/**
 * kafkajs 2.2.4's RequestQueue.scheduleCheckPendingRequests arms a timer of
 * `throttledUntil - Date.now()` ms even when nothing is pending and no throttle is in
 * force (`throttledUntil` starts at -1): a negative delay, which Node 24 reports on
 * stderr as `TimeoutNegativeWarning: -17… is a negative number` and runs after 1 ms,
 * whereupon the check re-arms itself: a 1 ms timer loop per broker connection for the
 * connection's life (kafkajs issues #1704, #1751). The replacement schedules a check only
 * when a request is pending (at the end of the throttle, or 10 ms later as before). The
 * original is replaced only when its text is the known one, so a kafkajs upgrade that
 * changes it is left alone.
 */
const SCHEDULE_CHECK_ORIGINAL = /let scheduleAt = this\.throttledUntil - Date\.now\(\)\s*if \(!this\.throttleCheckTimeoutId\) \{\s*if \(this\.pending\.length > 0\) \{/;
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

function patchRequestQueue(): boolean {
  let RequestQueue: { prototype: RequestQueueInternals };
  try {
    RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueInternals };
  } catch {
    return false;
  }
  const proto = RequestQueue.prototype;
  if ((proto.scheduleCheckPendingRequests as { walrelayPatched?: boolean }).walrelayPatched) return true;
  if (!SCHEDULE_CHECK_ORIGINAL.test(proto.scheduleCheckPendingRequests.toString())) return false;
  const scheduleCheckPendingRequests = function (this: RequestQueueInternals): void {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL,
    );
  };
  (scheduleCheckPendingRequests as { walrelayPatched?: boolean }).walrelayPatched = true;
  proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  return true;
}

/** Whether kafkajs' request queue runs with the fix above (false: an unknown kafkajs version). */
export const kafkaRequestQueuePatched = patchRequestQueue();

/**
 * walrelay's replacements of kafkajs' parts that are not in force in this process, by the module
 * that makes each: none unless kafkajs is not 2.2.4 or was loaded before @walrelay/core (which a
 * bundler does when it hoists an `import` of it; scripts/bundle.mjs leaves kafkajs out). Services
 * log them at start (service.ts): without them kafkajs runs as it is, slower and with more memory.
 */
export function kafkajsReplacementsNotInForce(): string[] {
  const inForce: Record<string, boolean> = {
    'kafkajs-partition-grouping.ts': kafkaGroupingPatched,
    'kafkajs-request-framing.ts': kafkaRequestFramingPatched,
    'kafkajs-produce-request.ts': kafkaProduceEncoderPatched,
    'kafkajs-record-decoder.ts': kafkaRecordDecoderPatched,
    'kafka-client.ts (request queue)': kafkaRequestQueuePatched,
  };
  return Object.keys(inForce).filter((name) => !inForce[name]);
}

/**
 * kafkajs lines that are not problems of their own:
 * - its retries of a broker connection: walrelay's own line names the brokers and the
 *   reason when the connection finally fails (the reason travels in the error);
 * - "Limiting retries for the idempotent producer may invalidate EoS guarantees": walrelay
 *   bounds the retries on purpose; a send that fails after them aborts the Kafka
 *   transaction (none of its records become visible) and the process restarts from its
 *   checkpoint, so nothing is duplicated or lost.
 */
const CONNECTION_NOISE = /^(Connection error|Connection timeout|Failed to connect to seed broker|Failed to connect to broker|Broker .* disconnected|Kafka server has closed connection|Crash: KafkaJSNumberOfRetriesExceeded|Crash: KafkaJSConnectionError|.*ECONNREFUSED)/i;
const ACCOUNTED_FOR = /^Limiting retries for the idempotent producer/;
const REBALANCE = /rebalanc/i;
/**
 * A group or transaction coordinator that is not ready yet (a new broker creating
 * __consumer_offsets or __transaction_state, a restarted broker loading them, a moved
 * coordinator). kafkajs retries these itself; when its retries run out the request fails and
 * walrelay's own error names it. Logged at info, as the state it is, not as a warning.
 */
const COORDINATOR_NOT_READY = /coordinator is loading|coordinator is not available|not the correct coordinator/i;
/** A kafkajs line repeated within this time is counted, not logged again. */
const REPEAT_WINDOW_MS = 60_000;

/**
 * Maps kafkajs' log lines onto walrelay's logger. kafkajs logs every retry of a request at
 * ERROR level; walrelay decides what is an error: connection retries and accounted-for
 * warnings go to debug, rebalances and coordinators not ready yet to info, anything else to
 * warn at most once a minute per distinct line (repeats are counted in the next one).
 */
export function kafkaLogCreator(log: Logger): () => (entry: LogEntry) => void {
  const seen = new Map<string, { at: number; repeated: number }>();
  return () => (entry) => {
    const { message, ...extra } = entry.log;
    const fields: Record<string, unknown> = { kafka: entry.namespace, ...extra };
    delete fields.timestamp;
    delete fields.logger;
    if (entry.level > logLevel.WARN) {
      log.debug(fields, message);
      return;
    }
    if (REBALANCE.test(message) || REBALANCE.test(String(extra.error ?? ''))) {
      log.info(fields, `kafka consumer group rebalancing: ${REBALANCE.test(message) ? message : `${message}: ${String(extra.error)}`}`);
      return;
    }
    if (COORDINATOR_NOT_READY.test(String(extra.error ?? '')) || COORDINATOR_NOT_READY.test(message)) {
      log.info(fields, `kafka coordinator not ready yet (retried): ${String(extra.error ?? message)}`);
      return;
    }
    if (CONNECTION_NOISE.test(message) || ACCOUNTED_FOR.test(message)) {
      log.debug(fields, message);
      return;
    }
    const key = `${entry.namespace}\u0000${message}`;
    const now = Date.now();
    const last = seen.get(key);
    if (last && now - last.at < REPEAT_WINDOW_MS) {
      last.repeated++;
      log.debug(fields, message);
      return;
    }
    if (seen.size > 500) seen.clear();
    seen.set(key, { at: now, repeated: 0 });
    log.warn({ ...fields, ...(last?.repeated ? { repeated: last.repeated } : {}) }, `kafka client: ${message}`);
  };
}

/**
 * A kafkajs client whose producers name their partitioner: walrelay sets the partition of
 * every record itself (murmur2 over the key's Avro payload), so the choice only silences
 * kafkajs' "switched default partitioner" warning.
 */
class WalrelayKafka extends Kafka {
  override producer(config: ProducerConfig = {}): Producer {
    return super.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
  }
}

function kafkaConfigFor(settings: KafkaSettings, log: Logger, clientId: string | undefined, retries: number): KafkaConfig {
  const ssl = typeof settings.ssl === 'boolean' ? settings.ssl : tlsOptions(settings.ssl);
  const config: KafkaConfig = {
    clientId: clientId ?? settings.clientId,
    brokers: settings.brokers,
    ssl,
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: { retries, initialRetryTime: 200, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
    // kafkajs' sockets, giving each produce request's buffer back once written (produce-request-buffers.ts).
    socketFactory: releasingSocketFactory(),
  };
  if (settings.sasl) config.sasl = settings.sasl as SASLOptions;
  return config;
}

/** A kafkajs client configured from walrelay settings, logging through pino. */
export function createKafka(settings: KafkaSettings, log: Logger, clientId?: string): Kafka {
  return new WalrelayKafka(kafkaConfigFor(settings, log, clientId, 8));
}

/**
 * One attempt to reach the brokers (connect, authenticate, read the cluster metadata),
 * bounded by `connectionTimeoutMs` + `requestTimeoutMs`: the start-up check. Throws a
 * ConnectionError naming the brokers and kafkajs' reason.
 */
export async function checkKafka(settings: KafkaSettings, log: Logger): Promise<void> {
  const kafka = new WalrelayKafka({ ...kafkaConfigFor(settings, log, `${settings.clientId}-check`, 0), logCreator: () => (entry) => log.debug({ kafka: entry.namespace }, entry.log.message) });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (e) {
    throw new ConnectionError('kafka', `brokers ${settings.brokers.join(',')} unreachable: ${kafkaReason(e)}`, { cause: e });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The innermost useful message of a kafkajs error (its retries wrap the original cause). */
export function kafkaReason(e: unknown): string {
  let x: unknown = e;
  for (let depth = 0; depth < 5 && x instanceof Error; depth++) {
    const next = (x as { originalError?: unknown; cause?: unknown }).originalError ?? (x as { cause?: unknown }).cause;
    if (!(next instanceof Error)) break;
    x = next;
  }
  return errorMessage(x);
}
