#!/usr/bin/env node
import { sinkMain } from '@walrelay/sink';
import { SqliteTarget } from './index.js';

sinkMain({
  dialect: 'sqlite',
  targetName: 'an SQLite file',
  defaultTargetUrl: 'walrelay.sqlite',
  createDriver: (config, log) => new SqliteTarget({ url: config.target.url, maxRowsPerStatement: 500 }, log),
});
