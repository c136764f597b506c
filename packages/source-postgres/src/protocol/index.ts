export * from './replication-frames.js';
export * from './pgoutput.js';
