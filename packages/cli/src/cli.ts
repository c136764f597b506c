import { parseArgs } from 'node:util';
import { ConfigError, ConnectionError, createLogger, errorMessage, WalrelayError } from '@walrelay/core';
import { loadCliConfig, VALUE_FLAGS } from './settings.js';
import { collectStatus } from './status.js';
import { formatStatus } from './status-format.js';
import { dropSource, SourceActiveError } from './drop-source.js';
import { runSnapshotCommand, SNAPSHOT_USAGE } from '@walrelay/source-postgres';

export const CLI_VERSION = '0.1.0';

/** Exit codes of `walrelay`. */
export const EXIT = { ok: 0, unhealthy: 1, usage: 2, unreachable: 3 } as const;

const COMMON_HELP = Object.entries(VALUE_FLAGS)
  .map(([flag, f]) => `  --${flag} <value>`.padEnd(34) + `${f.help}  [${f.env}]`)
  .join('\n');

export const HELP = `walrelay ${CLI_VERSION}: operate a walrelay pipeline (needs no running walrelay process)

Usage:
  walrelay status [--json] [options]      every source (slot) and sink group, and whether they are healthy
  walrelay drop-source --slot <slot> [--force] [--drop-publication] [options]
                                          drop a source's replication slot and its checkpoint
  walrelay snapshot <schema.table>… [--where <condition>] | --stop [<schema.table>…] | --list
                                          request, cancel or list incremental snapshots (the same
                                          as walrelay-source snapshot; source settings from
                                          --config and the WALRELAY_* environment)
  walrelay --help | --version

status reads PostgreSQL (pg_replication_slots, the source's standby lock), Kafka (checkpoint
topic, table topic end offsets, consumer groups, dead-letter topics), the schema registry (to
read commit times of pending records) and each --target's walrelay_offsets table. Without
--slot it reports every slot with a checkpoint under the prefix (else "walrelay"); without
--group every consumer group with offsets on the prefix's table topics or in a target.
  --json                          one JSON document on stdout instead of the table

drop-source refuses while a walsender streams from the slot or a walrelay-source holds its lock.
  --force                         terminate those sessions first (a running source would start over)
  --drop-publication              also DROP PUBLICATION (--publication, default walrelay)

Options (flags win over the environment, which wins over --config):
  --config <file.yaml|file.json>  a source's or a sink's config file works
${COMMON_HELP}
  Also every WALRELAY_KAFKA_* / WALRELAY_SCHEMA_REGISTRY_* / WALRELAY_PG_SSL variable of the binaries.

Exit codes:
  0  healthy (status) / done (drop-source)
  1  unhealthy: a slot missing, WAL retained or lag above a threshold (status); the source is active (drop-source)
  2  bad usage or configuration (named)
  3  a service could not be reached (named)
`;

export interface CliIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** Runs `walrelay <argv>` and returns its exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Incremental snapshots: the source's own command (a signal through the captured database,
  // ordered with the data; --list reads the Kafka checkpoint).
  if (argv[0] === 'snapshot') {
    if (argv[1] === '--help' || argv[1] === '-h') {
      io.stdout(`${SNAPSHOT_USAGE}\n`);
      return EXIT.ok;
    }
    return runSnapshotCommand(argv.slice(1), io.env, (line) => io.stdout(`${line}\n`));
  }
  const options = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    json: { type: 'boolean' },
    force: { type: 'boolean' },
    'drop-publication': { type: 'boolean' },
    config: { type: 'string', short: 'c' },
    ...Object.fromEntries(Object.entries(VALUE_FLAGS).map(([k, f]) => [k, { type: 'string', multiple: f.multiple === true }])),
  } as const;
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    io.stderr(`walrelay: ${errorMessage(e)}\nRun walrelay --help for usage.\n`);
    return EXIT.usage;
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (values.help) {
    io.stdout(HELP);
    return EXIT.ok;
  }
  if (values.version) {
    io.stdout(`walrelay ${CLI_VERSION}\n`);
    return EXIT.ok;
  }
  const [command, ...rest] = parsed.positionals;
  if (!command) {
    io.stderr('walrelay: missing command (status, drop-source, snapshot)\nRun walrelay --help for usage.\n');
    return EXIT.usage;
  }
  if (command !== 'status' && command !== 'drop-source') {
    io.stderr(`walrelay: unknown command ${JSON.stringify(command)} (status, drop-source, snapshot)\n`);
    return EXIT.usage;
  }
  if (rest.length > 0) {
    io.stderr(`walrelay ${command}: unexpected argument ${JSON.stringify(rest[0])}\n`);
    return EXIT.usage;
  }
  const misplaced = command === 'status' ? ['force', 'drop-publication'].find((f) => values[f]) : values.json ? 'json' : undefined;
  if (misplaced) {
    io.stderr(`walrelay ${command}: --${misplaced} does not apply to this command\n`);
    return EXIT.usage;
  }
  const flagEnv: Record<string, string> = {};
  for (const [flag, f] of Object.entries(VALUE_FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    flagEnv[f.env] = Array.isArray(v) ? v.join(',') : String(v);
  }
  let config;
  try {
    config = loadCliConfig(values.config as string | undefined, flagEnv, io.env);
  } catch (e) {
    io.stderr(`walrelay: ${errorMessage(e)}\n`);
    return EXIT.usage;
  }
  const log = createLogger('walrelay', config.logLevel);
  try {
    if (command === 'status') {
      const report = await collectStatus(config, log);
      io.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      return report.healthy ? EXIT.ok : EXIT.unhealthy;
    }
    const r = await dropSource(config, { force: values.force === true, dropPublication: values['drop-publication'] === true }, log);
    const lines = [
      ...(r.terminated.length ? [`terminated sessions ${r.terminated.join(', ')}`] : []),
      r.slotDropped ? `dropped replication slot ${r.slot}` : `replication slot ${r.slot} did not exist`,
      r.checkpointRemoved ? `removed the checkpoint of ${r.slot} (tombstone in ${config.topicPrefix}.__walrelay_checkpoints)` : `no checkpoint of ${r.slot} under prefix ${config.topicPrefix}`,
      ...(r.publicationDropped ? [`dropped publication ${r.publicationDropped}`] : []),
    ];
    io.stdout(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } catch (e) {
    io.stderr(`walrelay ${command}: ${errorMessage(e)}\n`);
    if (e instanceof SourceActiveError) return EXIT.unhealthy;
    if (e instanceof ConfigError || (e instanceof WalrelayError && e.code === 'USAGE')) return EXIT.usage;
    if (e instanceof ConnectionError) return EXIT.unreachable;
    return EXIT.unreachable;
  } finally {
    log.flush();
  }
}
