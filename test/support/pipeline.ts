import type pg from 'pg';
import { KAFKA_BROKERS, PG_URL, REGISTRY_URL, uniqueName } from './env.js';
import { dropPgArtifacts, pgConnect, q } from './postgres.js';
import { startProcess, type RunningProcess, type StartOptions } from './processes.js';
import { compareTable, formatCheck, type CheckResult, type TargetRows } from './checker.js';
import { waitFor } from './wait.js';

/**
 * One isolated pipeline for a test: its own PostgreSQL schema, slot, publication,
 * topic prefix and consumer groups, and the processes it started.
 */
export class TestPipeline {
  readonly id: string;
  readonly schema: string;
  readonly slot: string;
  readonly publication: string;
  readonly prefix: string;
  readonly processes: RunningProcess[] = [];
  db!: pg.Client;

  constructor(base: string) {
    this.id = uniqueName(base);
    this.schema = `${this.id}_s`;
    this.slot = `${this.id}_slot`;
    this.publication = `${this.id}_pub`;
    this.prefix = this.id;
  }

  async setup(ddl: (schema: string) => string[]): Promise<void> {
    this.db = await pgConnect();
    await this.db.query(`CREATE SCHEMA ${q(this.schema)}`);
    for (const sql of ddl(q(this.schema))) await this.db.query(sql);
  }

  sourceEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      WALRELAY_PG_URL: PG_URL,
      WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
      WALRELAY_SLOT: this.slot,
      WALRELAY_PUBLICATION: this.publication,
      WALRELAY_TOPIC_PREFIX: this.prefix,
      WALRELAY_TABLES: '',
      WALRELAY_TX_MAX_DELAY_MS: '20',
      ...extra,
    };
  }

  sinkEnv(targetUrl: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      WALRELAY_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      WALRELAY_SCHEMA_REGISTRY_URL: REGISTRY_URL,
      WALRELAY_TOPIC_PREFIX: this.prefix,
      WALRELAY_TARGET_URL: targetUrl,
      WALRELAY_GROUP_ID: `${this.id}_group`,
      WALRELAY_TOPIC_REFRESH_MS: '500',
      ...extra,
    };
  }

  startSource(extra: Record<string, string> = {}, name = 'source', options: StartOptions = {}): RunningProcess {
    const p = startProcess('source', this.sourceEnv({ WALRELAY_TABLES: this.tablesEnv(), ...extra }), `${this.id}-${name}`, [], options);
    this.processes.push(p);
    return p;
  }

  startSink(kind: 'sink-sqlite' | 'sink-mysql' | 'sink-mssql', targetUrl: string, extra: Record<string, string> = {}, name: string = kind, options: StartOptions = {}): RunningProcess {
    const p = startProcess(kind, this.sinkEnv(targetUrl, extra), `${this.id}-${name}`, [], options);
    this.processes.push(p);
    return p;
  }

  #tables: string[] = [];

  /** The source captures these tables of the test's schema. */
  capture(...tables: string[]): void {
    this.#tables = tables;
  }

  tablesEnv(): string {
    return this.#tables.map((t) => `"${this.schema.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`).join(',');
  }

  /** Waits until the target table equals the source table (or times out with the differences). */
  async waitConsistent(table: string, rows: TargetRows, timeoutMs = 90_000, keyNames?: readonly string[]): Promise<CheckResult> {
    let last: CheckResult | undefined;
    return waitFor(
      `${table} in the target to equal PostgreSQL`,
      async () => {
        last = await compareTable(this.db, this.schema, table, rows, 10, keyNames);
        return last.differences.length === 0 ? last : undefined;
      },
      {
        timeoutMs,
        intervalMs: 250,
        describe: () =>
          `${last ? formatCheck(table, last) : 'no comparison yet'}\n${this.processes.map((p) => `--- ${p.name} (${p.logFile})\n${p.output().slice(-2500)}`).join('\n')}`,
      },
    );
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(10_000)));
    if (this.db) {
      await dropPgArtifacts(this.db, { slot: this.slot, publication: this.publication, schema: this.schema });
      await this.db.end();
    }
  }
}
