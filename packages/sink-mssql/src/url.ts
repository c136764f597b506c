import { ConfigError } from '@walrelay/core';

export interface ParsedMssqlUrl {
  readonly server: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly encrypt: boolean;
  readonly trustServerCertificate: boolean;
  readonly instanceName: string | undefined;
  readonly schema: string | undefined;
}

function flag(value: string | null, name: string, fallback: boolean): boolean {
  if (value === null) return fallback;
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'strict'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`mssql URL parameter ${name}: expected true or false, got ${JSON.stringify(value)}`);
}

export function parseMssqlUrl(url: string): ParsedMssqlUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('mssql target URL is not a valid URL (expected mssql://user:pass@host:1433/db)');
  }
  if (u.protocol !== 'mssql:' && u.protocol !== 'sqlserver:') {
    throw new ConfigError(`mssql target URL must start with mssql:// or sqlserver://, got ${u.protocol}//`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('mssql target URL names no database (mssql://user:pass@host:1433/<db>)');
  const p = u.searchParams;
  const port = u.port ? Number(u.port) : 1433;
  return {
    server: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port,
    database,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    encrypt: flag(p.get('encrypt'), 'encrypt', true),
    trustServerCertificate: flag(p.get('trustServerCertificate') ?? p.get('trust_server_certificate'), 'trustServerCertificate', false),
    instanceName: p.get('instanceName') ?? undefined,
    schema: p.get('schema') ?? undefined,
  };
}
