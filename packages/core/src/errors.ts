/**
 * The one error hierarchy of walrelay. Every error carries a stable `code` and a
 * `retriable` flag: the runtime retries retriable errors with backoff and treats the
 * rest as final (fail the process, or route the record to the dead-letter topic).
 */
export interface WalrelayErrorOptions {
  readonly retriable?: boolean;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class WalrelayError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: WalrelayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }
}

/** A setting is missing or invalid. Never retriable. */
export class ConfigError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('CONFIG', message, { ...options, retriable: false });
  }
}

/** A service (PostgreSQL, Kafka, registry, target) could not be reached. Retriable. */
export class ConnectionError extends WalrelayError {
  readonly service: string;
  constructor(service: string, message: string, options: WalrelayErrorOptions = {}) {
    super('CONNECTION', `${service}: ${message}`, { retriable: true, ...options });
    this.service = service;
  }
}

/** Bytes from outside (pgoutput, Kafka records, registry answers) could not be decoded. */
export class DecodeError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('DECODE', message, { ...options, retriable: false });
  }
}

/** A schema could not be derived, registered or evolved. */
export class SchemaError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('SCHEMA', message, options);
  }
}

/**
 * A target cannot name a table or column the source has (too long, a character it cannot
 * hold). A shape problem of that one table, not a setting: for a table name, `tableNames`
 * gives it another; for a column, the source side must (rename it, or leave it out).
 */
export class IdentifierError extends SchemaError {
  readonly identifier: string;
  constructor(identifier: string, message: string, options: WalrelayErrorOptions = {}) {
    super(message, { ...options, retriable: false, details: { identifier, ...(options.details ?? {}) } });
    this.identifier = identifier;
  }
}

/** A value cannot be represented in Avro or in a target column. */
export class ValueError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('VALUE', message, { ...options, retriable: false });
  }
}

/** The target database refused a statement. Retriable for deadlocks and lost connections. */
export class ApplyError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('APPLY', message, options);
  }
}

/**
 * The target has no column of a name a statement wrote: another sink process renamed it
 * (RENAME COLUMN upstream) after this one read the table's shape, or someone dropped it. The
 * sink runtime re-reads the topic's newest schema and retries once; if that does not help, it
 * is an ApplyError like any other.
 */
export class MissingColumnError extends ApplyError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super(message, { ...options, retriable: false });
  }
}

/** The source's replication preconditions do not hold (wal_level, privileges, slot use). */
export class ReplicationError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('REPLICATION', message, options);
  }
}

const TRANSIENT_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * What kind of problem an error is, which decides what the runtimes do with it:
 * - `configuration`: a setting or a precondition the operator must change; stops the process
 *   (exit code 2 for ConfigError).
 * - `data`: one record or one table's shape cannot be carried (DecodeError, ValueError,
 *   SchemaError, a refused statement); handled by the sink's `onError` for that record.
 * - `connection`: a service is unreachable or lost; retried with backoff.
 * - `internal`: anything else (a bug); stops the process.
 */
export type ErrorCategory = 'configuration' | 'data' | 'connection' | 'internal';

export interface ErrorClassification {
  readonly category: ErrorCategory;
  /** Whether retrying (with backoff) may succeed. */
  readonly retriable: boolean;
  /** WalrelayError.code, or UNKNOWN. */
  readonly code: string;
}

/**
 * The one classification of errors, used by the source and the sinks. Walrelay errors say
 * whether they are retriable themselves; Kafka client errors (after the client's own retries)
 * and transient socket errors are retriable connection errors, since the pipeline resumes
 * from durable positions.
 */
export function classifyError(error: unknown): ErrorClassification {
  if (error instanceof WalrelayError) {
    const { retriable, code } = error;
    if (error instanceof ConfigError) return { category: 'configuration', retriable: false, code };
    if (error instanceof ConnectionError) return { category: 'connection', retriable, code };
    if (error instanceof ReplicationError) return { category: retriable ? 'connection' : 'configuration', retriable, code };
    if (error instanceof DecodeError || error instanceof ValueError || error instanceof SchemaError || error instanceof ApplyError) {
      return { category: retriable ? 'connection' : 'data', retriable, code };
    }
    return { category: retriable ? 'connection' : 'internal', retriable, code };
  }
  if (error instanceof Error) {
    if (error.name.startsWith('KafkaJS')) return { category: 'connection', retriable: true, code: 'UNKNOWN' };
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_SYSTEM_CODES.has(code)) return { category: 'connection', retriable: true, code: 'UNKNOWN' };
  }
  return { category: 'internal', retriable: false, code: 'UNKNOWN' };
}

/** Whether restarting the work (with backoff) may succeed (see classifyError). */
export function isRetriable(error: unknown): boolean {
  return classifyError(error).retriable;
}

/** The shutdown or an abort interrupted the work (not a failure). */
export class InterruptedError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('INTERRUPTED', message, { ...options, retriable: false });
  }
}

/** A caller broke a function's contract (a bug in walrelay, not bad input). */
export class InternalError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('INTERNAL', message, { ...options, retriable: false });
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
