#!/usr/bin/env node
// First: refuse a node older than walrelay supports, then the heap settings (may restart this
// process with them before anything else loads).
import '@walrelay/core/supported-node';
import '@walrelay/core/default-heap-settings';
import { tlsOptions } from '@walrelay/core';
import { sinkMain } from '@walrelay/sink';
import { MysqlTarget } from './index.js';

sinkMain({
  dialect: 'mysql',
  targetName: 'MySQL or MariaDB',
  defaultTargetUrl: 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay',
  createDriver: (config, log) => {
    const ssl = config.target.ssl;
    return new MysqlTarget(
      {
        url: config.target.url,
        ...(ssl === undefined
          ? {}
          : {
              ssl: typeof ssl === 'boolean' ? ssl : tlsOptions(ssl),
            }),
      },
      log,
    );
  },
});
