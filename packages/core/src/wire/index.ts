/** The wire contract: everything the source and the sinks must agree on. */
export * from './source-block.js';
export * from './change-schema.js';
export * from './table-names.js';
export * from './topic-naming.js';
export * from './truncate-marker.js';
export * from './dead-letter.js';
export * from './sentinels.js';
