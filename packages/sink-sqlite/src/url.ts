import { ConfigError } from '@walrelay/core';

/**
 * `sqlite:///abs/path` → `/abs/path`; `sqlite:rel` → `rel`; a `file:` URI as SQLite reads one
 * (`file:///abs/path`, `file://localhost/abs/path`, `file:/abs/path`, `file:rel`, percent-escapes
 * decoded) → its path; anything else is a path (a `?` in a plain path is part of the file name).
 * The driver opens paths, not URIs, so a URL carries no parameters: a query or fragment is
 * refused, naming it, instead of being dropped or becoming part of the file name (the settings
 * are target.*), and so is a `file:` URI naming another host.
 */
export function sqlitePath(url: string): string {
  if (url === ':memory:' || url === 'sqlite::memory:' || url === 'sqlite://:memory:' || url === 'file::memory:') return ':memory:';
  if (url.startsWith('sqlite:') || url.startsWith('file:')) {
    const at = url.search(/[?#]/);
    if (at >= 0) {
      throw new ConfigError(
        `sqlite target URL ${url}: ${url[at] === '?' ? 'query parameters' : 'a fragment'} (${url.slice(at)}) would not be read; set target.cacheSizeKiB and the other target.* settings instead, or give a plain file path`,
      );
    }
  }
  if (url.startsWith('file:')) return fileUriPath(url);
  if (url.startsWith('sqlite://')) {
    const rest = url.slice('sqlite://'.length);
    const path = decodeURIComponent(rest);
    if (!path) throw new ConfigError('sqlite target URL names no file (sqlite:///path/to/file.db)');
    return path;
  }
  if (url.startsWith('sqlite:')) return decodeURIComponent(url.slice('sqlite:'.length));
  if (!url) throw new ConfigError('sqlite target URL is empty');
  return url;
}

/** The path of a `file:` URI without query (sqlite.org/uri.html: the authority is empty or `localhost`). */
function fileUriPath(url: string): string {
  let rest = url.slice('file:'.length);
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    if (authority !== '' && authority !== 'localhost') {
      throw new ConfigError(`sqlite target URL ${url} names the host ${authority}: a SQLite file is local (file:///path/to/file.db)`);
    }
    rest = slash < 0 ? '' : rest.slice(slash);
  }
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    throw new ConfigError(`sqlite target URL ${url}: an invalid percent-escape in the path`);
  }
  if (!path) throw new ConfigError(`sqlite target URL ${url} names no file (file:///path/to/file.db)`);
  return path;
}
