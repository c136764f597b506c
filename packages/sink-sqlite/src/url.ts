import { ConfigError } from '@walrelay/core';

/**
 * `sqlite:///abs/path` → `/abs/path`; `sqlite:rel` → `rel`; anything else is a path (a `?` in a
 * plain path is part of the file name). A `sqlite:` URL carries no parameters: a query is
 * refused, naming it, instead of being dropped (the settings are target.*).
 */
export function sqlitePath(url: string): string {
  if (url === ':memory:' || url === 'sqlite::memory:' || url === 'sqlite://:memory:') return ':memory:';
  if (url.startsWith('sqlite:') && url.includes('?')) {
    throw new ConfigError(`sqlite target URL ${url}: query parameters are not read (${url.slice(url.indexOf('?'))}); set target.cacheSizeKiB and the other target.* settings instead, or give a plain file path`);
  }
  if (url.startsWith('sqlite://')) {
    const rest = url.slice('sqlite://'.length);
    const path = decodeURIComponent(rest);
    if (!path) throw new ConfigError('sqlite target URL names no file (sqlite:///path/to/file.db)');
    return path;
  }
  if (url.startsWith('sqlite:')) return decodeURIComponent(url.slice('sqlite:'.length));
  if (url.startsWith('file:')) return url; // SQLite URI filename, passed through
  if (!url) throw new ConfigError('sqlite target URL is empty');
  return url;
}
