import { ApplyError, MissingColumnError, ValueError, WalrelayError, errorMessage } from '@walrelay/core';

const RETRIABLE = /^SQLITE_(BUSY|LOCKED)/;
const VALUE_CODES = /^SQLITE_(CONSTRAINT_NOTNULL|CONSTRAINT_CHECK|TOOBIG|MISMATCH|RANGE)/;

/** A better-sqlite3 error → walrelay's error classes. */
export function classifySqliteError(error: unknown, context: string): WalrelayError {
  if (error instanceof WalrelayError) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
  const message = `${context}: ${errorMessage(error)}${code ? ` (${code})` : ''}`;
  const details = { driverCode: code };
  if (code && VALUE_CODES.test(code)) return new ValueError(message, { cause: error, details });
  // "table t has no column named c" / "no such column: c": renamed by another sink process, or dropped.
  if (code === 'SQLITE_ERROR' && /has no column named |no such column: /.test(errorMessage(error))) return new MissingColumnError(message, { cause: error, details });
  if (code && RETRIABLE.test(code)) return new ApplyError(message, { retriable: true, cause: error, details });
  return new ApplyError(message, { retriable: false, cause: error, details });
}
