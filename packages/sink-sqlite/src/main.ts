#!/usr/bin/env node
// First: the heap settings (may restart this process with them before anything else loads).
import './process-settings.js';
import { sinkMain } from '@walrelay/sink';
import { SqliteTarget } from './index.js';

sinkMain({
  dialect: 'sqlite',
  targetName: 'an SQLite file',
  defaultTargetUrl: 'walrelay.sqlite',
  createDriver: (config, log) => new SqliteTarget({ url: config.target.url, maxRowsPerStatement: 500, ...(config.target.cacheSizeKiB !== undefined ? { cacheSizeKiB: config.target.cacheSizeKiB } : {}) }, log),
});
