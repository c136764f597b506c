/** walrelay's SQL Server dialect: URL parsing, SQL, value conversion, the apply plan, error classification, the target. */
export * from './url.js';
export * from './sql.js';
export * from './values.js';
export * from './plan.js';
export * from './errors.js';
export * from './target.js';
