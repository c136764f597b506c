import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'config.kafka.sasl.password',
  'config.schemaRegistry.password',
  'url',
  '*.url',
  'connectionString',
  '*.connectionString',
];

/** Replaces the password of a URL (postgres://u:secret@h/db) by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***');
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

/** JSON logs on stderr (written synchronously: a crash loses no line), stdout stays free for a binary's own output. */
export function createLogger(name: string, level: string): Logger {
  return pino(
    {
      name,
      level,
      base: { service: name, pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: (value: unknown) => (typeof value === 'string' && value.includes('://') ? redactUrl(value) : '***') },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
