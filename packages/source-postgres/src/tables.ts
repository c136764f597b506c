import type pg from 'pg';
import {
  assignFieldNames,
  assignTableTopics,
  topicCollisionKey,
  TopicCollisionError,
  avroType,
  deriveChangeSchemas,
  keySubject,
  tableTopic,
  valueSubject,
  tableShapeFromValueSchema,
  SchemaError,
  ConfigError,
  evolveColumns,
  previousColumn,
  type ColumnSpec,
  type Logger,
  type SchemaColumn,
  type SchemaRegistryClient,
} from '@walrelay/core';
import { describeAttributes, describeTable, describeTableByName, type AttributeFacts, type TableShapeWithOid } from './catalog.js';
import { configuredKey, rekey, type KeyColumnsSetting } from './key-columns.js';
import { valueConverter } from './values/pg-text.js';
import { debeziumValueFieldNames, deriveDebeziumSchemas } from './debezium-format/connect-schema.js';
import { refuseCompactedForDebezium } from './debezium-format/topic-policy.js';
import type { TableTopic } from './publish/change-records.js';
import type { TopicManager } from './publish/topics.js';
import type { RelationColumn } from './protocol/index.js';

/**
 * The columns of a topic's newest value schema. `described`: walrelay's schemas carry each
 * column's description (types, key, attnum); Debezium's Connect schemas only field names, which
 * stand in as columns matched by name (no type or key to compare).
 */
interface PublishedShape {
  readonly columns: readonly ColumnSpec[];
  readonly described: boolean;
}

/** A captured table as the stream sees it: topic, schemas, and one converter per column. */
export interface CapturedTable extends TableTopic {
  readonly relationOid: number;
  readonly converters: readonly ((text: string) => unknown)[];
  /** The relation message's column names, in its order (= tuple order). */
  readonly tupleColumns: readonly string[];
  /** Type oid of each column, in the same order. */
  readonly typeOids: readonly number[];
}

export interface TableRegistryOptions {
  readonly topicPrefix: string;
  /** Record format: walrelay's own (default) or Debezium's PostgreSQL connector encodings. */
  readonly format?: 'walrelay' | 'debezium';
  /** Tables keyed by configuration (`keyColumns`) instead of their primary key / replica identity index. */
  readonly keyColumns?: KeyColumnsSetting;
}

/**
 * Keeps, per relation oid, the table's topic, registered schema ids and value
 * converters. A Relation message whose columns differ from what is known makes a
 * new schema version (registered under `<topic>-key` / `<topic>-value`).
 */
export class TableRegistry {
  readonly #catalog: pg.Client;
  readonly #registry: SchemaRegistryClient;
  readonly #topics: TopicManager;
  readonly #options: TableRegistryOptions;
  readonly #log: Logger;
  readonly #byOid = new Map<number, CapturedTable | null>();
  readonly #warnedKeyless = new Set<number>();
  /** Per topic, the columns of the value schema sinks saw last (registry's newest at first use, then what this process registered). */
  readonly #published = new Map<string, PublishedShape | null>();
  /** Which table holds each topic (by topicCollisionKey): a second table there is refused. */
  readonly #topicOwners = new Map<string, { readonly oid: number; readonly schema: string; readonly table: string }>();
  onSchemaChange: ((table: CapturedTable) => void) | undefined;
  /**
   * The stream met a table definition with columns its topic's schema did not have, and
   * PostgreSQL gives existing rows a value for them (ADD COLUMN … DEFAULT: a constant is kept
   * in pg_attribute.attmissingval, a volatile one rewrites the table): no WAL carries those
   * values to a subscriber, so the table must be read again (source.ts queues an incremental
   * snapshot).
   */
  onColumnsFilledByDefault: ((table: CapturedTable, columns: readonly string[]) => void) | undefined;

  constructor(catalog: pg.Client, registry: SchemaRegistryClient, topics: TopicManager, options: TableRegistryOptions, log: Logger) {
    this.#catalog = catalog;
    this.#registry = registry;
    this.#topics = topics;
    this.#options = options;
    this.#log = log;
  }

  get(relationOid: number): CapturedTable | null | undefined {
    return this.#byOid.get(relationOid);
  }

  /** Handles a Relation message. Returns null for a table walrelay does not capture (no key). */
  async onRelation(relationOid: number, relationColumns: readonly RelationColumn[]): Promise<CapturedTable | null> {
    const known = this.#byOid.get(relationOid);
    if (known && sameColumns(known, relationColumns)) return known;
    const described = await this.#describe(relationOid);
    const published = await this.#previous(tableTopic(this.#options.topicPrefix, described.schema, described.table), described.schema, described.table);
    // The stream's definition is current when the catalog has each column with the same type;
    // otherwise the stream is behind DDL that came later (a restart replays WAL from the
    // checkpoint): the definition is taken from the Relation message itself.
    const current = relationColumns.map((rc) => {
      const idx = described.columns.findIndex((c) => c.name === rc.name);
      return idx >= 0 && described.typeOids[idx] === rc.typeOid && described.attTypmods[idx] === rc.typmod ? (described.columns[idx] as ColumnSpec) : undefined;
    });
    const isCurrent = current.every((c) => c !== undefined);
    const specs: ColumnSpec[] = isCurrent ? (current as ColumnSpec[]) : await this.#fromStream(described, published, relationColumns, current);
    const installed = await this.#install(relationOid, described.schema, described.table, specs, relationColumns.map((c) => c.name), relationColumns.map((c) => c.typeOid), isCurrent);
    if (installed && published && isCurrent) {
      // Columns with no predecessor in the published schema (by attnum: a renamed column is not new).
      const added = installed.columns.filter((c) => !previousColumn(published.columns, c)).map((c) => c.name);
      if (added.length > 0) {
        const filled = await this.#catalog.query<{ name: string }>(
          `SELECT a.attname AS name FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = $1 AND a.attname = ANY($2::text[]) AND NOT a.attisdropped AND (a.atthasmissing OR a.atthasdef)`,
          [relationOid, added],
        );
        if (filled.rows.length > 0) {
          const columns = filled.rows.map((r) => r.name);
          this.#log.info({ schema: described.schema, table: described.table, columns }, 'columns added with a default: existing rows hold a value no WAL carries; the table is read again');
          this.onColumnsFilledByDefault?.(installed, columns);
        }
      }
    }
    return installed;
  }

  /**
   * A table definition the catalog has moved past (the stream replays WAL from before later DDL):
   * names and types from the Relation message, each type resolved by oid; attnum from the catalog
   * when the column is unchanged there, else from the topic's published schema (by name, or a
   * later schema's former names), else from the catalog by name; the key from the catalog, the
   * published schema or the message's key flags, in that order (`keyColumns` wins).
   */
  async #fromStream(
    described: TableShapeWithOid,
    published: PublishedShape | null,
    relationColumns: readonly RelationColumn[],
    current: readonly (ColumnSpec | undefined)[],
  ): Promise<ColumnSpec[]> {
    const table = `${described.schema}.${described.table}`;
    const configured = configuredKey(this.#options.keyColumns, described.schema, described.table);
    const flagged = described.replicaIdentity === 'f' ? [] : relationColumns.filter((rc) => rc.isKey).map((rc) => rc.name);
    const facts: AttributeFacts[] = relationColumns.map((rc, i) => {
      const cat = described.columns.find((c) => c.name === rc.name);
      const pub = published?.columns.find((c) => c.name === rc.name) ?? published?.columns.find((c) => c.formerNames?.includes(rc.name));
      const key = configured
        ? configured.indexOf(rc.name) + 1 || null
        : cat
          ? cat.key
          : pub && published?.described
            ? pub.key
            : flagged.indexOf(rc.name) + 1 || null;
      return { attnum: current[i]?.attnum ?? pub?.attnum ?? cat?.attnum, attname: rc.name, atttypid: rc.typeOid, atttypmod: rc.typmod, attnotnull: cat ? !cat.nullable : false, key };
    });
    const { columns } = await describeAttributes(this.#catalog, table, facts);
    if (described.hasKey && !columns.some((c) => c.key !== null)) {
      throw new SchemaError(`table ${table}: the stream's table definition (from before later DDL) names none of the key columns walrelay knows; restore the key column's name, or re-snapshot the table`, { details: { table } });
    }
    this.#log.info({ table, columns: columns.map((c) => c.name) }, "the stream is behind later DDL: the table's definition is taken from the stream");
    return columns;
  }

  /** The table's shape from the catalog, keyed by `keyColumns` when the setting names it. */
  async #describe(relationOid: number): Promise<TableShapeWithOid> {
    const described = await describeTable(this.#catalog, relationOid);
    const columns = configuredKey(this.#options.keyColumns, described.schema, described.table);
    return columns ? rekey(this.#catalog, described, columns) : described;
  }

  async #previous(topic: string, schema: string, table: string): Promise<PublishedShape | null> {
    if (!this.#published.has(topic)) this.#published.set(topic, await this.#publishedShape(topic, schema, table));
    return this.#published.get(topic) ?? null;
  }

  /**
   * The columns of the newest value schema of a topic (what sinks last saw), or null when it
   * has none yet. Debezium's Connect schemas carry no column descriptions: their field names
   * stand in (matched by name).
   */
  async #publishedShape(topic: string, schema: string, table: string): Promise<PublishedShape | null> {
    const latest = await this.#registry.latest(valueSubject(topic));
    if (!latest) return null;
    try {
      return { columns: tableShapeFromValueSchema(latest.schema).columns, described: true };
    } catch {
      const fields = debeziumValueFieldNames(latest.schema);
      if (fields) return { columns: fields.map((name) => ({ name, kind: 'other', pgType: 'unknown', typmod: -1, nullable: true, key: null })), described: false };
      this.#log.warn({ schema, table }, 'the newest value schema of the table topic is neither walrelay nor Debezium: columns added with a default cannot be detected against it');
      return null;
    }
  }

  /**
   * For the snapshot: the table by oid, with the catalog's current columns — only those
   * named in `only` when given (a publication's column list).
   */
  async forSnapshot(relationOid: number, only?: readonly string[] | null): Promise<CapturedTable | null> {
    const described = await this.#describe(relationOid);
    const keep = described.columns.map((c, i) => ({ c, oid: described.typeOids[i] as number })).filter(({ c }) => !only || only.includes(c.name));
    return this.#install(relationOid, described.schema, described.table, keep.map((k) => k.c), keep.map((k) => k.c.name), keep.map((k) => k.oid));
  }

  async #install(
    relationOid: number,
    schema: string,
    table: string,
    specs: readonly ColumnSpec[],
    tupleColumns: readonly string[],
    typeOids: readonly number[],
    /** False for a definition from before later DDL: its type changes were checked when they happened. */
    checkTypes = true,
  ): Promise<CapturedTable | null> {
    if (!specs.some((c) => c.key !== null)) {
      if (!this.#warnedKeyless.has(relationOid)) {
        this.#warnedKeyless.add(relationOid);
        this.#log.warn({ schema, table }, 'table has no primary key or replica identity index: its changes are not captured (name its key columns in keyColumns to capture it)');
      }
      this.#byOid.set(relationOid, null);
      return null;
    }
    const topic = tableTopic(this.#options.topicPrefix, schema, table);
    const published = await this.#previous(topic, schema, table);
    // Renames carry the former names; a type change that is not a widening stops here, naming the column.
    const columns: SchemaColumn[] = assignFieldNames(
      published?.described ? evolveColumns(`${schema}.${table}`, published.columns, specs, { checkTypes }) : specs,
    );
    const owner = this.#topicOwners.get(topicCollisionKey(topic));
    if (owner !== undefined && owner.oid !== relationOid && !(owner.schema === schema && owner.table === table)) {
      throw new TopicCollisionError(this.#options.topicPrefix, owner, { schema, table }, topic, tableTopic(this.#options.topicPrefix, owner.schema, owner.table));
    }
    this.#topicOwners.set(topicCollisionKey(topic), { oid: relationOid, schema, table });
    const dbz = this.#options.format === 'debezium' ? deriveDebeziumSchemas(topic, { schema, table, columns }) : undefined;
    const schemas = dbz ?? deriveChangeSchemas(topic, { schema, table, columns });
    const partitions = await this.#topics.ensure(topic);
    if (dbz) await refuseCompactedForDebezium(this.#topics, topic, schema, table, partitions, this.#log);
    const keySchemaId = await this.#registry.register(keySubject(topic), schemas.key);
    const valueSchemaId = await this.#registry.register(valueSubject(topic), schemas.value);
    const keyIndexes = columns
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => c.key !== null)
      .sort((a, b) => (a.c.key as number) - (b.c.key as number))
      .map(({ i }) => i);
    const captured: CapturedTable = {
      relationOid,
      schema,
      table,
      topic,
      partitions,
      columns,
      keyIndexes,
      keySchemaId,
      valueSchemaId,
      keyType: avroType(schemas.key),
      valueType: avroType(schemas.value),
      converters: columns.map((c) => valueConverter(c)),
      tupleColumns,
      typeOids,
      ...(dbz ? { debezium: { fields: dbz.fields } } : {}),
    };
    const previous = this.#byOid.get(relationOid);
    this.#byOid.set(relationOid, captured);
    this.#published.set(topic, { columns, described: true });
    if (previous) {
      this.#log.info({ topic, keySchemaId, valueSchemaId }, 'table definition changed: new schema version registered');
      this.onSchemaChange?.(captured);
    } else {
      this.#log.debug({ topic, keySchemaId, valueSchemaId }, 'table registered');
    }
    return captured;
  }
}

function sameColumns(t: CapturedTable, rc: readonly RelationColumn[]): boolean {
  if (t.tupleColumns.length !== rc.length) return false;
  for (let i = 0; i < rc.length; i++) if (t.tupleColumns[i] !== (rc[i] as RelationColumn).name) return false;
  return !rc.some((c, i) => (t.columns[i] as SchemaColumn).typmod !== c.typmod || t.typeOids[i] !== c.typeOid);
}

/**
 * Refuses, at start, a publication of which two captured tables (those with a key) would share
 * a topic (or two topics Kafka would refuse as colliding): the error names both tables and how
 * to exclude one.
 */
export async function refuseTopicCollisions(catalog: pg.Client, publication: string, topicPrefix: string, keyColumns?: KeyColumnsSetting): Promise<void> {
  const res = await catalog.query<{ schema: string; table: string; haskey: boolean }>(
    `SELECT pt.schemaname AS schema, pt.tablename AS table,
            EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                     WHERE i.indrelid = c.oid AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i'))) AS haskey
       FROM pg_catalog.pg_publication_tables pt
       JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
      WHERE pt.pubname = $1
      ORDER BY 1, 2`,
    [publication],
  );
  assignTableTopics(
    topicPrefix,
    res.rows.filter((r) => r.haskey || configuredKey(keyColumns, r.schema, r.table)).map((r) => ({ schema: r.schema, table: r.table })),
  );
}

/**
 * Checks every `keyColumns` entry at start (the table exists, and PostgreSQL guarantees the key:
 * key-columns.ts), so a wrong setting stops the source before anything is published.
 */
export async function checkKeyColumns(catalog: pg.Client, keyColumns: KeyColumnsSetting): Promise<void> {
  for (const { table, columns } of keyColumns.values()) {
    let shape;
    try {
      shape = await describeTableByName(catalog, table.schema, table.table);
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      throw new ConfigError(`keyColumns: ${e.message}`, { details: { setting: 'keyColumns', table: `${table.schema}.${table.table}` } });
    }
    await rekey(catalog, shape, columns);
  }
}
