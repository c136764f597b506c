#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { sinkMain } from '@walrelay/sink';
import { MysqlTarget } from './index.js';

sinkMain({
  dialect: 'mysql',
  defaultTargetUrl: 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay',
  createDriver: (config, log) => {
    const ssl = config.target.ssl;
    return new MysqlTarget(
      {
        url: config.target.url,
        ...(ssl === undefined
          ? {}
          : {
              ssl:
                typeof ssl === 'boolean'
                  ? ssl
                  : {
                      rejectUnauthorized: ssl.rejectUnauthorized,
                      ...(ssl.caFile ? { ca: readFileSync(ssl.caFile, 'utf8') } : {}),
                      ...(ssl.certFile ? { cert: readFileSync(ssl.certFile, 'utf8') } : {}),
                      ...(ssl.keyFile ? { key: readFileSync(ssl.keyFile, 'utf8') } : {}),
                    },
            }),
      },
      log,
    );
  },
});
