import { ApplyError, ConnectionError, MissingColumnError, ValueError, WalrelayError, errorMessage } from '@walrelay/core';

const VALUE_NUMBERS = new Set([
  220, // arithmetic overflow (smallint/int)
  232, // arithmetic overflow for type
  241, // conversion failed: date/time from string
  242, // out-of-range datetime value
  245, // conversion failed (int)
  248, // conversion overflowed an int
  515, // NULL into NOT NULL
  2628, // string or binary data would be truncated (2019+)
  8114, // error converting data type
  8115, // arithmetic overflow converting to numeric
  8152, // string or binary data would be truncated
  8169, // conversion failed: uniqueidentifier
]);
const RETRIABLE_NUMBERS = new Set([1205, 1222, 40_501, 40_613, 49_918, 49_919, 49_920, 10_928, 10_929, 4_221]);
const CONNECTION_NUMBERS = new Set([233, 10_053, 10_054, 10_060, 64, 40_197]);
const CONNECTION_CODES = new Set(['ESOCKET', 'ECONNCLOSED', 'ETIMEOUT', 'ENOTOPEN', 'ENOCONN', 'EINSTLOOKUP', 'ECONNRESET', 'ECONNREFUSED']);

export function scrub(message: string, password: string): string {
  return password ? message.split(password).join('***') : message;
}

/** mssql/tedious error → walrelay's error classes. */
export function classifyMssqlError(error: unknown, context: string, password = ''): WalrelayError {
  if (error instanceof WalrelayError) return error;
  const e = (error ?? {}) as { number?: unknown; code?: unknown; originalError?: { number?: unknown; code?: unknown; info?: { number?: unknown } } };
  const number =
    typeof e.number === 'number' ? e.number : typeof e.originalError?.info?.number === 'number' ? e.originalError.info.number : typeof e.originalError?.number === 'number' ? e.originalError.number : undefined;
  const code = typeof e.code === 'string' ? e.code : typeof e.originalError?.code === 'string' ? e.originalError.code : undefined;
  const message = `${context}: ${scrub(errorMessage(error), password)}${number !== undefined ? ` (${number})` : code ? ` (${code})` : ''}`;
  const details = { number, driverCode: code };
  if (number !== undefined && VALUE_NUMBERS.has(number)) return new ValueError(message, { cause: error, details });
  // 207 invalid column name: renamed by another sink process, or dropped.
  if (number === 207) return new MissingColumnError(message, { cause: error, details });
  if (number !== undefined && RETRIABLE_NUMBERS.has(number)) return new ApplyError(message, { retriable: true, cause: error, details });
  if (code === 'ELOGIN' || number === 18_456 || number === 4_060) return new ConnectionError('sqlserver', message, { retriable: false, cause: error, details });
  if ((number !== undefined && CONNECTION_NUMBERS.has(number)) || (code !== undefined && CONNECTION_CODES.has(code))) {
    return new ConnectionError('sqlserver', message, { retriable: true, cause: error, details });
  }
  return new ApplyError(message, { retriable: false, cause: error, details });
}

/** SQL Server target on mssql (tedious). */
