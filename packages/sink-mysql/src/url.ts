import { readFileSync } from 'node:fs';
import { ConfigError } from '@walrelay/core';

export interface MysqlTlsOptions {
  /** PEM text or a Buffer. (URL parameters `ssl-ca`/`ssl-cert`/`ssl-key` take file paths.) */
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Verify the server certificate (default true). */
  readonly rejectUnauthorized?: boolean;
}
export interface ParsedMysqlUrl {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly ssl: MysqlTlsOptions | undefined;
  readonly params: URLSearchParams;
}

function readPem(param: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`mysql URL parameter ${param}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Parses the target URL (never echoing the password in an error). */
export function parseMysqlUrl(url: string): ParsedMysqlUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('mysql target URL is not a valid URL (expected mysql://user:pass@host:3306/db)');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new ConfigError(`mysql target URL must start with mysql:// or mariadb://, got ${u.protocol}//`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('mysql target URL names no database (mysql://user:pass@host:3306/<db>)');
  const p = u.searchParams;
  const sslParam = (p.get('ssl') ?? p.get('sslmode') ?? '').toLowerCase();
  const ca = p.get('ssl-ca') ?? p.get('sslca');
  const cert = p.get('ssl-cert') ?? p.get('sslcert');
  const key = p.get('ssl-key') ?? p.get('sslkey');
  const reject = p.get('ssl-reject-unauthorized') ?? p.get('rejectUnauthorized');
  const wantsTls = ['true', '1', 'required', 'require', 'verify-ca', 'verify-full', 'verify_identity'].includes(sslParam) || ca !== null || cert !== null;
  if (sslParam && !wantsTls && !['false', '0', 'disabled', 'disable'].includes(sslParam)) {
    throw new ConfigError(`mysql URL parameter ssl: unknown value ${JSON.stringify(sslParam)} (true|false|required|verify-ca|verify-full)`);
  }
  const ssl: MysqlTlsOptions | undefined = wantsTls
    ? {
        ...(ca ? { ca: readPem('ssl-ca', ca) } : {}),
        ...(cert ? { cert: readPem('ssl-cert', cert) } : {}),
        ...(key ? { key: readPem('ssl-key', key) } : {}),
        rejectUnauthorized: reject === null ? sslParam !== 'required' && sslParam !== 'require' : !['false', '0'].includes(reject.toLowerCase()),
      }
    : undefined;
  const port = u.port ? Number(u.port) : 3306;
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new ConfigError(`mysql URL port ${u.port} is not a port number`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
    ssl,
    params: p,
  };
}
