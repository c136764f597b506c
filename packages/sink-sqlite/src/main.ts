#!/usr/bin/env node
// First: refuse a node older than walrelay supports, then the heap settings (may restart this
// process with them before anything else loads).
import '@walrelay/core/supported-node';
import './process-settings.js';
import { sinkMain } from '@walrelay/sink';
import { SqliteTarget } from './index.js';

sinkMain({
  dialect: 'sqlite',
  targetName: 'an SQLite file',
  defaultTargetUrl: 'walrelay.sqlite',
  createDriver: (config, log) => new SqliteTarget({ url: config.target.url, maxRowsPerStatement: 500, ...(config.target.cacheSizeKiB !== undefined ? { cacheSizeKiB: config.target.cacheSizeKiB } : {}) }, log),
});
