/** walrelay's SQLite dialect: URL parsing, SQL, value conversion, error classification, the target. */
export * from './url.js';
export * from './sql.js';
export * from './values.js';
export * from './errors.js';
export * from './target.js';
