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

/** The source's replication preconditions do not hold (wal_level, privileges, slot use). */
export class ReplicationError extends WalrelayError {
  constructor(message: string, options: WalrelayErrorOptions = {}) {
    super('REPLICATION', message, options);
  }
}

const TRANSIENT_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * Whether restarting the work (with backoff) may succeed: walrelay errors say so
 * themselves; Kafka client errors (after the client's own retries) and transient
 * socket errors are retriable, since the pipeline resumes from durable positions.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof WalrelayError) return error.retriable;
  if (!(error instanceof Error)) return false;
  if (error.name.startsWith('KafkaJS')) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_SYSTEM_CODES.has(code);
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
