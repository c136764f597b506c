import { WalrelayError, type SchemaColumn, type TableShape } from '@walrelay/core';

/** A batch another consumer of the group has already applied past: dropped, never committed. */
export class StaleBatchError extends WalrelayError {
  constructor(topic: string, partition: number, stored: bigint, expectedFrom: bigint) {
    super('STALE_BATCH', `${topic}/${partition}: the target is already at offset ${stored}, past this batch's start ${expectedFrom} (another sink process owns the partition now)`, {
      retriable: false,
      details: { topic, partition, stored: stored.toString(), expectedFrom: expectedFrom.toString() },
    });
  }
}

/** The check every driver runs inside the apply transaction (see StoredOffset.expectedFrom). */
export function checkFence(offset: StoredOffset, stored: bigint | null | undefined): void {
  if (offset.expectedFrom !== undefined && stored !== null && stored !== undefined && stored > offset.expectedFrom) {
    throw new StaleBatchError(offset.topic, offset.partition, stored, offset.expectedFrom);
  }
}

/**
 * The contract between the dialect-agnostic sink runtime and one target database.
 *
 * A dialect package implements `TargetDriver`; the runtime owns everything else
 * (consuming, decoding, coalescing, offsets bookkeeping, the truncate barrier, retries,
 * dead letters). What a driver must guarantee, and the runtime relies on:
 *
 * 1. **One transaction per `apply`.** The steps and the offsets rows of an ApplyBatch
 *    commit together or not at all. If `apply` throws, nothing of the batch is visible
 *    (the runtime may then retry it or apply its records one by one). If the connection is
 *    lost during COMMIT the driver cannot know the outcome: it throws a retriable error,
 *    and the runtime's retry is made safe by the fence (2).
 * 2. **The fence.** Before any step, for every offset with `expectedFrom`, the driver locks
 *    that walrelay_offsets row (or the whole database) for the transaction and calls
 *    `checkFence`: a stored next offset past `expectedFrom` throws StaleBatchError and the
 *    batch changes nothing. A batch committed before a lost COMMIT answer is therefore
 *    refused on retry instead of being applied twice over newer rows.
 * 3. **Steps in order.** Deletes, upserts and truncates run in the given order; an upsert
 *    writes only the given columns (the others keep their values: unchanged TOAST), keys
 *    included; a truncate removes every row of the table inside the transaction.
 * 4. **Errors are classified** into the core hierarchy: ValueError for a value the target
 *    cannot store (the runtime isolates the record), a retriable ApplyError/ConnectionError
 *    for deadlocks, lock timeouts and lost connections, a non-retriable ApplyError or
 *    ConfigError for the rest. Never a plain driver error, never a password in a message.
 * 5. **DDL is idempotent and faithful.** `createTable` makes the source key the primary key
 *    and maps every value kind exactly (or refuses with a ConfigError naming the column);
 *    `addColumns` adds nullable columns and ignores those that already exist; `renameColumn`
 *    keeps the column's data; `widenColumns` only ever widens. All may race with another sink
 *    process doing the same (the runtime re-checks after a failure). A statement naming a column
 *    the table does not have fails with a MissingColumnError.
 * 6. **Introspection is exact.** `existingColumns`, `primaryKey` and `extraUniqueIndexes`
 *    report what the database has (names as stored, key columns in key order), so the
 *    runtime can refuse a pre-existing table whose key is not the source's.
 * 7. **Offsets round-trip.** `loadOffsets` returns what `apply` stored for the group, next
 *    offsets exactly (int64) and LSNs as unsigned 64-bit values.
 * 8. **Identifiers are quoted and values are parameters**, whatever characters names hold;
 *    a name the target cannot hold is a ConfigError naming it.
 *
 * `packages/sink/test/driver-contract.ts` checks these against a real database; each
 * dialect's tests run it.
 */

/** Where a source table lands in the target. */
export interface TargetTable {
  /** Target table name (default: the source table name). */
  readonly name: string;
  /** The columns as described by the latest value schema seen. */
  readonly shape: TableShape;
}

/**
 * One row's values, in the order of the step's `columns`, as decoded from Avro:
 * boolean, number (int16/int32/float, date as days since epoch), bigint (int64,
 * time/timestamp/timestamptz as microseconds), string (decimal, numeric, text, uuid,
 * json, timetz, interval, enum, other), Buffer (bytes), array (of those, or null), null.
 */
export type RowValues = readonly unknown[];

export type ApplyStep =
  /** Insert or update rows by key. `columns` holds every key column and the non-key columns to write. */
  | { readonly kind: 'upsert'; readonly columns: readonly SchemaColumn[]; readonly rows: readonly RowValues[] }
  /** Delete rows by key. `columns` are the key columns, in key order. */
  | { readonly kind: 'delete'; readonly columns: readonly SchemaColumn[]; readonly keys: readonly RowValues[] }
  /** Remove every row of the table. */
  | { readonly kind: 'truncate' };

/** Progress of one consumer group on one partition, kept in the target's `walrelay_offsets`. */
export interface StoredOffset {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /** The next Kafka offset to apply (last applied + 1). */
  readonly nextOffset: bigint;
  /** Commit LSN of the last applied change from PostgreSQL, when known. */
  readonly sourceLsn: bigint | null;
  /**
   * Fencing: the first Kafka offset of the batch. Inside the transaction, before any step,
   * the driver locks this row and throws a StaleBatchError when the stored next offset is
   * already beyond it — another consumer (after a rebalance) applied past the start of this
   * batch, and a late commit of it would undo newer changes.
   */
  readonly expectedFrom?: bigint;
}

/**
 * Which source table writes a target table: the first topic to claim a target name keeps
 * it, in every sink process and across restarts, so two source tables that map to one
 * target name can never mix their rows (the later one is refused, naming both).
 */
export interface TableOwner {
  /** Target table name (compared the way the target compares table names). */
  readonly table: string;
  /** The topic whose records write it. */
  readonly topic: string;
  /** The source table, `schema.table`. */
  readonly source: string;
}

/** Everything one target transaction does: the table's steps in order, then the offsets. */
export interface ApplyBatch {
  readonly table: TargetTable;
  readonly steps: readonly ApplyStep[];
  readonly offsets: readonly StoredOffset[];
}

export interface TargetDriver {
  /** Dialect name: mysql, mssql, sqlite. */
  readonly dialect: string;
  /** Opens the connection (pool). Throws a retriable ConnectionError when unreachable. */
  connect(): Promise<void>;
  close(): Promise<void>;
  /** Creates `walrelay_offsets` and `walrelay_table_owners` if missing. */
  ensureOffsetsTable(): Promise<void>;
  /**
   * Claims `owner.table` for `owner.topic` unless another topic holds it, atomically against
   * every other process; returns the holder (the claimant, or the topic that held it before).
   */
  claimTable(owner: TableOwner): Promise<TableOwner>;
  /** The holder of a target table name, or null when nobody claimed it. */
  tableOwner(table: string): Promise<TableOwner | null>;
  /** Stored offsets of a consumer group (all topics). */
  loadOffsets(groupId: string): Promise<StoredOffset[]>;
  /** Column names of an existing target table, or null when it does not exist. */
  existingColumns(table: string): Promise<string[] | null>;
  /** Creates the table with faithful column types and the key as primary key. */
  createTable(table: TargetTable): Promise<void>;
  /** Adds columns (nullable) that the schema gained. */
  addColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<void>;
  /**
   * Renames a column (RENAME COLUMN upstream: the schema's column names its former name); the
   * column keeps its data, its type and its place in the primary key.
   */
  renameColumn(table: string, from: string, to: string): Promise<void>;
  /**
   * Widens the existing columns among `columns` whose target type holds less than the type the
   * dialect gives their spec (int4 → int8, varchar(n) → varchar(m), numeric precision up, …),
   * before a wider value is written; never narrows, leaves columns of another type family
   * alone, and is idempotent. Returns the names of the columns it altered.
   */
  widenColumns(table: TargetTable, columns: readonly SchemaColumn[]): Promise<string[]>;
  /**
   * The primary-key column names of an existing table, in key order; [] when the table has
   * no primary key (or does not exist).
   */
  primaryKey(table: string): Promise<string[]>;
  /** Names of unique indexes other than the primary key (MySQL upserts may hit them). */
  extraUniqueIndexes?(table: string): Promise<string[]>;
  /**
   * Applies the batch in ONE target transaction together with the offsets rows.
   * Throws ApplyError (retriable for deadlocks/lost connections) or ValueError
   * (a value the target cannot store; the runtime isolates the record).
   */
  apply(batch: ApplyBatch): Promise<void>;
}
