import { ApplyError, IdentifierError, ConnectionError, MissingColumnError, ValueError, type SchemaColumn, type WalrelayError } from '@walrelay/core';
import { keyText } from '../../src/coalesce.js';
import { checkFence, type ApplyBatch, type StoredOffset, type TableOwner, type TargetDriver, type TargetTable } from '../../src/target.js';
import { EventLog } from './event-log.js';

interface MemoryTable {
  columns: string[];
  key: string[];
  rows: Map<string, Map<string, unknown>>;
}

type CommitFault = 'before' | 'after';

/**
 * A TargetDriver in memory, for the runtime's state-machine tests, with fault injection:
 * fail the Nth statement, lose the connection before or after a COMMIT, refuse a value or a
 * table. An apply is atomic (work on a copy, swap at commit), as a real transaction is.
 * Several runtimes may share one instance (two sink processes, one database).
 */
export class MemoryTarget implements TargetDriver {
  readonly dialect = 'memory';
  readonly log: EventLog;
  tables = new Map<string, MemoryTable>();
  offsets = new Map<string, StoredOffset>();
  /** Claims of target table names (walrelay_table_owners). */
  owners = new Map<string, TableOwner>();
  /** Statements run so far (each step and each offsets write is one). */
  statements = 0;
  /** Transactions committed. */
  commits = 0;
  connects = 0;
  #connected = 0;
  #statementFaults = new Map<number, WalrelayError>();
  #commitFaults: CommitFault[] = [];
  #connectFaults: WalrelayError[] = [];
  #applyHolds: Promise<void>[] = [];
  /** A value this predicate returns a reason for is refused with a ValueError (as a dialect would). */
  refuseValue: ((table: string, column: SchemaColumn, value: unknown) => string | undefined) | undefined;
  /** A table this predicate returns a reason for cannot be created (an IdentifierError naming the table, as MySQL's identifier check). */
  refuseTable: ((table: TargetTable) => string | undefined) | undefined;

  constructor(log = new EventLog()) {
    this.log = log;
  }

  /** The statement `n` statements from now (1 = the next one) fails with `error`. */
  failStatement(n: number, error: WalrelayError): void {
    this.#statementFaults.set(this.statements + n, error);
  }

  /** The next commit loses the connection: 'before' it reaches the database, or 'after' it committed. */
  loseConnectionAtCommit(when: CommitFault): void {
    this.#commitFaults.push(when);
  }

  failConnect(error: WalrelayError): void {
    this.#connectFaults.push(error);
  }

  /**
   * The next `apply` waits, its statements already built by the runtime, until the returned
   * function is called: another batch (another partition) can run in between.
   */
  holdNextApply(): () => void {
    let release: () => void = () => undefined;
    this.#applyHolds.push(new Promise<void>((resolve) => (release = resolve)));
    return () => release();
  }

  /** A table that exists before the sink runs (the operator's), with any key. */
  createRaw(name: string, columns: string[], key: string[]): void {
    this.tables.set(name, { columns: [...columns], key: [...key], rows: new Map() });
  }

  rows(name: string): Record<string, unknown>[] {
    const t = this.tables.get(name);
    return t ? [...t.rows.values()].map((r) => Object.fromEntries(r)) : [];
  }

  offset(groupId: string, topic: string, partition: number): bigint | undefined {
    return this.offsets.get(offsetKey(groupId, topic, partition))?.nextOffset;
  }

  async claimTable(owner: TableOwner): Promise<TableOwner> {
    await Promise.resolve();
    if (!this.owners.has(owner.table)) this.owners.set(owner.table, { ...owner });
    return this.owners.get(owner.table) as TableOwner;
  }

  async tableOwner(table: string): Promise<TableOwner | null> {
    await Promise.resolve();
    return this.owners.get(table) ?? null;
  }

  async connect(): Promise<void> {
    await Promise.resolve();
    const fault = this.#connectFaults.shift();
    if (fault) throw fault;
    this.#connected++;
    this.connects++;
  }

  async close(): Promise<void> {
    if (this.#connected > 0) this.#connected--;
  }

  #require(): void {
    if (this.#connected === 0) throw new ConnectionError('memory', 'not connected', { retriable: false });
  }

  async ensureOffsetsTable(): Promise<void> {
    this.#require();
  }

  async loadOffsets(groupId: string): Promise<StoredOffset[]> {
    await Promise.resolve();
    this.#require();
    return [...this.offsets.values()].filter((o) => o.groupId === groupId).map((o) => ({ ...o }));
  }

  async existingColumns(table: string): Promise<string[] | null> {
    await Promise.resolve();
    return this.tables.get(table)?.columns.slice() ?? null;
  }

  async primaryKey(table: string): Promise<string[]> {
    await Promise.resolve();
    return this.tables.get(table)?.key.slice() ?? [];
  }

  async createTable(table: TargetTable): Promise<void> {
    await Promise.resolve();
    this.#require();
    const reason = this.refuseTable?.(table);
    if (reason) throw new IdentifierError(table.name, reason);
    if (this.tables.has(table.name)) return;
    const key = table.shape.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number)).map((c) => c.name);
    this.tables.set(table.name, { columns: table.shape.columns.map((c) => c.name), key, rows: new Map() });
  }

  async addColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<void> {
    await Promise.resolve();
    const t = this.tables.get(table.name);
    if (!t) throw new ApplyError(`no such table ${table.name}`);
    for (const c of columns) if (!t.columns.includes(c.name)) t.columns.push(c.name);
  }

  /** Kinds the columns were created or last widened with (memory has no SQL types). */
  kinds = new Map<string, string>();

  async renameColumn(table: string, from: string, to: string): Promise<void> {
    await Promise.resolve();
    const t = this.tables.get(table);
    if (!t) throw new ApplyError(`no such table ${table}`);
    if (!t.columns.includes(from)) throw new MissingColumnError(`${table} has no column ${from}`);
    if (t.columns.includes(to)) throw new ApplyError(`${table} already has a column ${to}`);
    t.columns = t.columns.map((c) => (c === from ? to : c));
    t.key = t.key.map((c) => (c === from ? to : c));
    for (const row of t.rows.values()) {
      if (!row.has(from)) continue;
      row.set(to, row.get(from));
      row.delete(from);
    }
    this.log.push(`rename ${table}.${from} -> ${to}`);
  }

  async widenColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<string[]> {
    await Promise.resolve();
    const widened: string[] = [];
    for (const c of columns) {
      const id = `${table.name}\u0000${c.name}`;
      const was = this.kinds.get(id);
      if (was !== undefined && was !== c.kind) widened.push(c.name);
      this.kinds.set(id, c.kind);
    }
    return widened;
  }

  async apply(batch: ApplyBatch): Promise<void> {
    const hold = this.#applyHolds.shift();
    if (hold) await hold;
    await Promise.resolve();
    this.#require();
    // Everything below runs without a pause: one transaction, isolated from other applies.
    const tables = new Map([...this.tables].map(([n, t]) => [n, { columns: t.columns, key: t.key, rows: new Map([...t.rows].map(([k, r]) => [k, new Map(r)])) }]));
    const offsets = new Map(this.offsets);
    for (const o of batch.offsets) if (o.expectedFrom !== undefined) checkFence(o, offsets.get(offsetKey(o.groupId, o.topic, o.partition))?.nextOffset ?? null);
    const name = batch.table.name;
    for (const step of batch.steps) {
      this.#statement();
      const t = tables.get(name);
      if (!t) throw new ApplyError(`no such table ${name}`);
      if (step.kind === 'truncate') {
        t.rows.clear();
        continue;
      }
      for (const c of step.columns) if (!t.columns.includes(c.name)) throw new MissingColumnError(`${name} has no column ${c.name}`);
      const list = step.kind === 'upsert' ? step.rows : step.keys;
      for (const values of list) {
        const row = new Map(step.columns.map((c, i) => [c.name, values[i]] as const));
        for (const c of step.columns) {
          const reason = this.refuseValue?.(name, c, row.get(c.name));
          if (reason) throw new ValueError(`${name}.${c.name}: ${reason}`);
          if (c.key !== null && (row.get(c.name) === null || row.get(c.name) === undefined)) throw new ValueError(`${name}.${c.name}: key is null`);
        }
        const k = keyText(Object.fromEntries(row), t.key);
        if (step.kind === 'delete') t.rows.delete(k);
        else t.rows.set(k, new Map([...(t.rows.get(k) ?? new Map()), ...row]));
      }
    }
    if (batch.offsets.length > 0) {
      this.#statement();
      for (const o of batch.offsets) offsets.set(offsetKey(o.groupId, o.topic, o.partition), { groupId: o.groupId, topic: o.topic, partition: o.partition, nextOffset: o.nextOffset, sourceLsn: o.sourceLsn });
    }
    const fault = this.#commitFaults.shift();
    if (fault === 'before') throw new ConnectionError('memory', 'connection lost before COMMIT', { retriable: true });
    this.tables = tables;
    this.offsets = offsets;
    this.commits++;
    for (const o of batch.offsets) this.log.push(`target ${o.topic}/${o.partition}@${o.nextOffset}`);
    if (fault === 'after') throw new ConnectionError('memory', 'connection lost after COMMIT (the commit happened)', { retriable: true });
  }

  #statement(): void {
    this.statements++;
    const fault = this.#statementFaults.get(this.statements);
    if (fault) {
      this.#statementFaults.delete(this.statements);
      throw fault;
    }
  }
}

function offsetKey(groupId: string, topic: string, partition: number): string {
  return `${groupId}\u0000${topic}\u0000${partition}`;
}
