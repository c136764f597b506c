import { ApplyError, ConnectionError, MissingColumnError, ValueError, WalrelayError, errorMessage } from '@walrelay/core';

const VALUE_ERRNOS = new Set([
  1048, // column cannot be null
  1264, // out of range value
  1265, // data truncated
  1292, // incorrect datetime/date/time value
  1364, // field has no default value (a partial row for a new key)
  1366, // incorrect (string/decimal/integer) value
  1367, // illegal value (e.g. double)
  1406, // data too long
  1416, // cannot get geometry object
  1690, // value out of range (BIGINT)
  3140, // MySQL: invalid JSON text
  4025, // MariaDB: CHECK constraint failed (JSON_VALID on JSON columns)
  4078, // MariaDB: illegal parameter data types / incorrect value
]);
const RETRIABLE_ERRNOS = new Set([1205, 1213, 1614 /* XA deadlock */, 1637 /* too many active transactions */]);
const CONNECTION_ERRNOS = new Set([1040, 1053, 1077, 1152, 1153, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013, 2055]);
const CONNECTION_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'POOL_CLOSED',
]);

interface DriverError {
  code?: unknown;
  errno?: unknown;
  sqlMessage?: unknown;
  fatal?: unknown;
}

/** Removes the password from a message (driver messages never should hold it; make sure). */
export function scrub(message: string, password: string | undefined): string {
  return password && password.length > 0 ? message.split(password).join('***') : message;
}

/** True when the error means the connection it came from is unusable. */
export function isConnectionLoss(error: unknown): boolean {
  const e = (error ?? {}) as DriverError;
  return (
    e.fatal === true ||
    (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) ||
    (typeof e.errno === 'number' && CONNECTION_ERRNOS.has(e.errno))
  );
}

/**
 * A mysql2 error → walrelay's error classes: values the server refuses → ValueError;
 * deadlocks and lock wait timeouts → retriable ApplyError; lost/refused connections →
 * ConnectionError (retriable); anything else → ApplyError with the driver's message and code.
 */
export function classifyMysqlError(error: unknown, context: string, password?: string): WalrelayError {
  if (error instanceof WalrelayError) return error;
  const e = (error ?? {}) as DriverError;
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = scrub(typeof e.sqlMessage === 'string' ? e.sqlMessage : errorMessage(error), password);
  const details = { errno, driverCode: code };
  if (errno !== undefined && VALUE_ERRNOS.has(errno)) {
    return new ValueError(`${context}: ${message} (${code ?? errno})`, { cause: error, details });
  }
  if (errno === 1054) {
    // ER_BAD_FIELD_ERROR: unknown column (renamed by another sink process, or dropped).
    return new MissingColumnError(`${context}: ${message} (${code ?? errno})`, { cause: error, details });
  }
  if (errno !== undefined && RETRIABLE_ERRNOS.has(errno)) {
    return new ApplyError(`${context}: ${message} (${code ?? errno})`, { retriable: true, cause: error, details });
  }
  if (isConnectionLoss(error)) {
    const authFailure = errno === 1044 || errno === 1045 || errno === 1049;
    return new ConnectionError('mysql', `${context}: ${message}${code ? ` (${code})` : ''}`, { retriable: !authFailure, cause: error, details });
  }
  if (errno === 1044 || errno === 1045 || errno === 1049 || errno === 1698) {
    return new ConnectionError('mysql', `${context}: ${message} (${code ?? errno})`, { retriable: false, cause: error, details });
  }
  return new ApplyError(`${context}: ${message}${code ? ` (${code})` : ''}`, { retriable: false, cause: error, details });
}
