/** `format: debezium`: the source writes Debezium's PostgreSQL connector encodings (see README, Debezium interoperability). */
export * from './connect-schema.js';
export * from './connect-values.js';
export * from './debezium-records.js';
export * from './topic-policy.js';
