import { ConfigError, errorMessage, IdentifierError, isRetriable, keyColumns, WalrelayError, type Logger, type TableShape } from '@walrelay/core';
import type { SinkMetrics } from '../metrics.js';
import type { TableOwner, TargetDriver, TargetTable } from '../target.js';

/**
 * A target table this process will not write: it could not be created or evolved, its
 * name is claimed by another source table, or a pre-existing table's primary key is not
 * the source's key. Only this table stops; the others go on.
 */
export class TableRefusedError extends WalrelayError {
  readonly table: string;
  constructor(table: string, topic: string, reason: string, cause?: unknown) {
    super('TABLE_REFUSED', `target table ${table} (topic ${topic}) is refused: ${reason}`, {
      retriable: false,
      cause,
      details: { table, topic },
    });
    this.table = table;
  }

  /** True when the table's problem is a setting (exit code 2 under onError=fail): a clash, or a table name the target cannot hold (`tableNames`). */
  get configuration(): boolean {
    return this.cause instanceof ConfigError || (this.cause instanceof IdentifierError && this.cause.identifier === this.table);
  }
}

interface Known {
  readonly target: TargetTable;
  readonly schemaId: number;
}

/**
 * Table DDL and schema evolution: the target table of each topic is created from the
 * value schema at first use, gains the columns later schema versions add, and a table
 * that existed before is checked once (its primary key must be the source's key).
 * DDL of one topic runs one at a time in this process; another sink process doing the
 * same DDL at the same moment is tolerated (create/add is re-checked after a failure).
 */
export class TargetTables {
  readonly #driver: TargetDriver;
  readonly #tableNames: Readonly<Record<string, string>>;
  readonly #log: Logger;
  readonly #metrics: SinkMetrics;
  readonly #known = new Map<string, Known>();
  readonly #ddl = new Map<string, Promise<void>>();
  readonly #refused = new Map<string, TableRefusedError>();
  #claimed: Promise<void> = Promise.resolve();

  constructor(driver: TargetDriver, tableNames: Readonly<Record<string, string>>, log: Logger, metrics: SinkMetrics) {
    this.#driver = driver;
    this.#tableNames = tableNames;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** The target name of a source table (tableNames, else the source table name). */
  nameOf(shape: Pick<TableShape, 'schema' | 'table'>): string {
    return this.#tableNames[`${shape.schema}.${shape.table}`] ?? shape.table;
  }

  /** What this process knows of a topic's table (its newest shape), if anything. */
  known(topic: string): Known | undefined {
    return this.#known.get(topic);
  }

  /** The refusal of a topic's table, if it is refused. */
  refusal(topic: string): TableRefusedError | undefined {
    return this.#refused.get(topic);
  }

  /**
   * Checks the subscribed topics' target names before anything is applied: two source
   * tables mapping to one target name are both refused, whichever arrives first, unless
   * one of them already holds the name in the target (walrelay_table_owners): that one
   * keeps writing it and the others are refused. `shapeOf` gives a topic's newest shape
   * (null: no schema yet; its claim is made at first use).
   */
  claim(subscribed: readonly string[] | Promise<readonly string[]>, shapeOf: (topic: string) => Promise<TableShape | null>): Promise<void> {
    this.#claimed = (async () => {
      const topics = await subscribed;
      const byName = new Map<string, { topic: string; source: string }[]>();
      for (const topic of topics) {
        const shape = await shapeOf(topic);
        if (!shape) continue;
        const name = this.nameOf(shape);
        let list = byName.get(name);
        if (!list) byName.set(name, (list = []));
        list.push({ topic, source: `${shape.schema}.${shape.table}` });
      }
      for (const [name, list] of byName) {
        if (list.length === 1) continue;
        const holder = await this.#driver.tableOwner(name);
        const who = list.map((x) => `${x.source} (topic ${x.topic})`).join(' and ');
        for (const x of list) {
          if (holder && holder.topic === x.topic) continue;
          this.#refuse(
            x.topic,
            name,
            new ConfigError(
              holder && list.some((y) => y.topic === holder.topic)
                ? `source tables ${who} map to target table ${name}, which ${holder.source} (topic ${holder.topic}) already writes: name ${x.source} in tableNames`
                : `source tables ${who} both map to target table ${name}: name one of them in tableNames`,
            ),
          );
        }
      }
    })();
    return this.#claimed;
  }

  /** The target table for a record of `topic` with this shape, created or evolved first when needed. */
  async ensure(topic: string, shape: TableShape, schemaId: number): Promise<TargetTable> {
    await this.#claimed;
    const refused = this.#refused.get(topic);
    if (refused) throw refused;
    const known = this.#known.get(topic);
    if (known && known.schemaId >= schemaId) return known.target;
    const previous = this.#ddl.get(topic) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#ensureNow(topic, shape, schemaId));
    this.#ddl.set(topic, next.then(() => undefined, () => undefined));
    return next;
  }

  async #ensureNow(topic: string, shape: TableShape, schemaId: number): Promise<TargetTable> {
    const refused = this.#refused.get(topic);
    if (refused) throw refused;
    const known = this.#known.get(topic);
    if (known && known.schemaId >= schemaId) return known.target;
    const name = this.nameOf(shape);
    if (known === undefined) {
      // The first topic to claim a name keeps it, in every process and across restarts.
      const source = `${shape.schema}.${shape.table}`;
      let holder: TableOwner;
      try {
        holder = await this.#driver.claimTable({ table: name, topic, source });
      } catch (e) {
        if (isRetriable(e)) throw e;
        throw this.#refuse(topic, name, e);
      }
      if (holder.topic !== topic) {
        throw this.#refuse(
          topic,
          name,
          new ConfigError(
            `source table ${source} (topic ${topic}) maps to target table ${name}, which source table ${holder.source} (topic ${holder.topic}) writes: ` +
              `name one of them in tableNames (if ${holder.topic} is gone for good, delete its row from walrelay_table_owners)`,
          ),
        );
      }
    }
    const target: TargetTable = { name, shape };
    try {
      await this.#createOrEvolve(target, known === undefined);
    } catch (e) {
      if (isRetriable(e)) throw e;
      throw this.#refuse(topic, name, e);
    }
    this.#known.set(topic, { target, schemaId });
    return target;
  }

  async #createOrEvolve(target: TargetTable, firstUse: boolean): Promise<void> {
    const { name, shape } = target;
    let existing = await this.#driver.existingColumns(name);
    const existedBefore = existing !== null;
    if (existing === null) {
      try {
        await this.#driver.createTable(target);
      } catch (e) {
        // Another sink process may have created it first.
        existing = await this.#driver.existingColumns(name);
        if (existing === null) throw e;
      }
    }
    if (existing === null) {
      this.#log.info({ table: name, source: `${shape.schema}.${shape.table}` }, 'created target table');
    } else {
      const have = await this.#renameColumns(target, new Set(existing));
      if (firstUse) await this.#checkKey(target, existedBefore);
      const missing = shape.columns.filter((c) => !have.has(c.name));
      const present = shape.columns.filter((c) => have.has(c.name));
      if (missing.length > 0) {
        try {
          await this.#driver.addColumns(target, missing);
          this.#log.info({ table: name, columns: missing.map((c) => c.name) }, 'added columns the schema gained');
        } catch (e) {
          // Another sink process may have added them first.
          const now = new Set((await this.#driver.existingColumns(name)) ?? []);
          if (missing.some((c) => !now.has(c.name))) throw e;
        }
      }
      // Before a wider value is written: int4 -> int8, varchar(n) -> varchar(m), numeric precision up.
      const widened = await this.#driver.widenColumns(target, present);
      if (widened.length > 0) this.#log.info({ table: name, columns: widened }, 'widened columns whose type the schema widened');
    }
    if (firstUse && this.#driver.extraUniqueIndexes) {
      const extra = await this.#driver.extraUniqueIndexes(name);
      if (extra.length > 0) this.#log.warn({ table: name, indexes: extra }, 'target table has unique indexes besides the primary key: upserts may match them');
    }
  }

  /**
   * RENAME COLUMN upstream: a schema column the target lacks, whose former name (newest first)
   * the target has and the schema no longer uses, is renamed in the target (its data stays).
   * Returns the target's column names afterwards.
   */
  async #renameColumns(target: TargetTable, have: Set<string>): Promise<Set<string>> {
    const names = new Set(target.shape.columns.map((c) => c.name));
    for (const c of target.shape.columns) {
      if (have.has(c.name) || !c.formerNames) continue;
      const from = [...c.formerNames].reverse().find((n) => have.has(n) && !names.has(n));
      if (from === undefined) continue;
      try {
        await this.#driver.renameColumn(target.name, from, c.name);
        this.#log.info({ table: target.name, from, to: c.name }, 'renamed column (RENAME COLUMN upstream)');
      } catch (e) {
        // Another sink process may have renamed it first.
        const now = new Set((await this.#driver.existingColumns(target.name)) ?? []);
        if (!now.has(c.name) || now.has(from)) throw e;
      }
      have.delete(from);
      have.add(c.name);
    }
    return have;
  }

  /** A table that existed before must have the source's key as its primary key (else upserts duplicate rows). */
  async #checkKey(target: TargetTable, existedBefore: boolean): Promise<void> {
    const expected = keyColumns(target.shape).map((c) => c.name);
    const found = await this.#driver.primaryKey(target.name);
    const same = found.length === expected.length && expected.every((c) => found.includes(c));
    if (same) return;
    const want = `PRIMARY KEY (${expected.join(', ')})`;
    throw new ConfigError(
      found.length === 0
        ? `the ${existedBefore ? 'existing ' : ''}target table ${target.name} has no primary key; walrelay needs ${want} (the source's key) so that upserts never duplicate rows: add it, or drop the table and let the sink create it`
        : `the ${existedBefore ? 'existing ' : ''}target table ${target.name} has PRIMARY KEY (${found.join(', ')}), but the source's key is (${expected.join(', ')}): change it to ${want}, or drop the table and let the sink create it`,
      { details: { table: target.name, expectedKey: expected, foundKey: [...found] } },
    );
  }

  #refuse(topic: string, name: string, cause: unknown): TableRefusedError {
    let reason = errorMessage(cause);
    if (cause instanceof IdentifierError) {
      reason +=
        cause.identifier === name
          ? `: give the table another target name in tableNames`
          : `: rename column ${JSON.stringify(cause.identifier)} in PostgreSQL, or leave it out of the publication (a column list)`;
    }
    const error = new TableRefusedError(name, topic, reason, cause);
    if (!this.#refused.has(topic)) {
      this.#refused.set(topic, error);
      this.#metrics.tableRefused.set({ table: name }, 1);
      this.#log.error({ table: name, topic, err: error.message }, 'target table refused: its records are not applied (the other tables go on)');
    }
    return this.#refused.get(topic) as TableRefusedError;
  }
}
