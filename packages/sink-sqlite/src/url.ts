import { ConfigError } from '@walrelay/core';

/** `sqlite:///abs/path` → `/abs/path`; `sqlite:rel` → `rel`; anything else is a path. */
export function sqlitePath(url: string): string {
  if (url === ':memory:' || url === 'sqlite::memory:' || url === 'sqlite://:memory:') return ':memory:';
  if (url.startsWith('sqlite://')) {
    const rest = url.slice('sqlite://'.length);
    const path = decodeURIComponent(rest.split('?')[0] ?? '');
    if (!path) throw new ConfigError('sqlite target URL names no file (sqlite:///path/to/file.db)');
    return path;
  }
  if (url.startsWith('sqlite:')) return decodeURIComponent(url.slice('sqlite:'.length).split('?')[0] ?? '');
  if (url.startsWith('file:')) return url; // SQLite URI filename, passed through
  if (!url) throw new ConfigError('sqlite target URL is empty');
  return url;
}
