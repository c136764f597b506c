import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mysqlRows, sqliteRows, type TargetRows } from './checker.js';
import { MysqlTestDatabase } from './mysql.js';
import type { TestPipeline } from './pipeline.js';

/**
 * The two targets most end-to-end tests apply into: a SQLite file in a temporary directory and
 * a throwaway MariaDB database, with row readers for the checker and one wait that both equal
 * PostgreSQL.
 */
export class TwoTargets {
  readonly #pipeline: TestPipeline;
  readonly #dir: string;
  readonly sqliteFile: string;
  readonly mysql: MysqlTestDatabase;

  constructor(pipeline: TestPipeline, prefix: string) {
    this.#pipeline = pipeline;
    this.#dir = mkdtempSync(path.join(tmpdir(), `walrelay-${prefix}-`));
    this.sqliteFile = path.join(this.#dir, 'target.db');
    this.mysql = new MysqlTestDatabase(pipeline.id);
  }

  sqlite(table: string): TargetRows {
    return sqliteRows(this.sqliteFile, table);
  }

  maria(table: string): TargetRows {
    return mysqlRows(this.mysql.url, table, { exact: true });
  }

  /** Waits until the table in both targets equals PostgreSQL (`key`: the configured key of a table without one). */
  async consistent(table: string, key?: string[], timeoutMs = 180_000): Promise<void> {
    for (const rows of [this.sqlite(table), this.maria(table)]) await this.#pipeline.waitConsistent(table, rows, timeoutMs, key);
  }

  async create(): Promise<void> {
    await this.mysql.create();
  }

  async drop(): Promise<void> {
    await this.mysql.drop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
