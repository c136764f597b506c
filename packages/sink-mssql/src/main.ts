#!/usr/bin/env node
// First: refuse a node older than walrelay supports, then the heap settings (may restart this
// process with them before anything else loads).
import '@walrelay/core/supported-node';
import '@walrelay/core/default-heap-settings';
import { ConfigError } from '@walrelay/core';
import { sinkMain } from '@walrelay/sink';
import { MssqlTarget } from './index.js';

/**
 * walrelay-sink-mssql. The default target is the SQL Server of docker-compose.yml (sa with the
 * compose file's default password, database walrelay_test, its self-signed certificate trusted).
 * TLS: `target.ssl: false` turns encryption off, `true` (or an object) turns it on;
 * `rejectUnauthorized: false` trusts the server certificate. The mssql driver takes no CA or
 * client certificate files: install the CA in the system store instead.
 */
sinkMain({
  dialect: 'mssql',
  targetName: 'SQL Server',
  defaultTargetUrl: 'mssql://sa:Walrelay-Dev-Passw0rd@127.0.0.1:1433/walrelay_test?encrypt=true&trustServerCertificate=true',
  createDriver: (config, log) => {
    const ssl = config.target.ssl;
    if (typeof ssl === 'object' && (ssl.caFile !== undefined || ssl.certFile !== undefined || ssl.keyFile !== undefined)) {
      throw new ConfigError('target.ssl (WALRELAY_TARGET_SSL): caFile/certFile/keyFile are not supported by the SQL Server sink; use { "rejectUnauthorized": false } or the system CA store');
    }
    return new MssqlTarget(
      {
        url: config.target.url,
        ...(ssl === undefined ? {} : typeof ssl === 'boolean' ? { encrypt: ssl } : { encrypt: true, trustServerCertificate: !ssl.rejectUnauthorized }),
      },
      log,
    );
  },
});
