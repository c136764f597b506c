export * from './target.js';
export * from './config.js';
export * from './coalesce.js';
export * from './record-decoder.js';
export * from './runner.js';
export * from './metrics.js';
export * from './main-runner.js';
export * from './value-text.js';
