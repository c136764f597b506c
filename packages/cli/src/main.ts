#!/usr/bin/env node
import '@walrelay/core/supported-node';
import { runCli } from './cli.js';

runCli(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env }).then(
  (code) => {
    process.exitCode = code;
    // kafkajs and pg leave no handles open once closed; exit promptly anyway.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (e: unknown) => {
    process.stderr.write(`walrelay: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
