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
  type ColumnSpec,
  type Logger,
  type SchemaColumn,
  type SchemaRegistryClient,
} from '@walrelay/core';
import { describeTable } from './catalog.js';
import { valueConverter } from './values/pg-text.js';
import { debeziumValueFieldNames, deriveDebeziumSchemas } from './debezium-format/connect-schema.js';
import { refuseCompactedForDebezium } from './debezium-format/topic-policy.js';
import type { TableTopic } from './publish/change-records.js';
import type { TopicManager } from './publish/topics.js';
import type { RelationColumn } from './protocol/index.js';

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
    const described = await describeTable(this.#catalog, relationOid);
    const published = await this.#publishedColumns(described.schema, described.table);
    const specs: ColumnSpec[] = relationColumns.map((rc) => {
      const idx = described.columns.findIndex((c) => c.name === rc.name);
      const spec = idx >= 0 && described.typeOids[idx] === rc.typeOid ? described.columns[idx] : undefined;
      if (!spec) {
        throw new SchemaError(
          `column ${rc.name} of ${described.schema}.${described.table} changed again before walrelay read its definition; restart to re-read it`,
          { retriable: true },
        );
      }
      return spec;
    });
    const installed = await this.#install(relationOid, described.schema, described.table, specs, relationColumns.map((c) => c.name), relationColumns.map((c) => c.typeOid));
    if (installed && published) {
      const added = relationColumns.map((c) => c.name).filter((n) => !published.has(n));
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

  /** Column names of the newest value schema of a table's topic, or null when it has none yet. */
  async #publishedColumns(schema: string, table: string): Promise<Set<string> | null> {
    const latest = await this.#registry.latest(valueSubject(tableTopic(this.#options.topicPrefix, schema, table)));
    if (!latest) return null;
    try {
      return new Set(tableShapeFromValueSchema(latest.schema).columns.map((c) => c.name));
    } catch {
      // format: debezium writes Connect schemas (no pg column descriptions): its field names.
      const fields = debeziumValueFieldNames(latest.schema);
      if (fields) return new Set(fields);
      this.#log.warn({ schema, table }, 'the newest value schema of the table topic is neither walrelay nor Debezium: columns added with a default cannot be detected against it');
      return null;
    }
  }

  /**
   * For the snapshot: the table by oid, with the catalog's current columns — only those
   * named in `only` when given (a publication's column list).
   */
  async forSnapshot(relationOid: number, only?: readonly string[] | null): Promise<CapturedTable | null> {
    const described = await describeTable(this.#catalog, relationOid);
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
  ): Promise<CapturedTable | null> {
    if (!specs.some((c) => c.key !== null)) {
      if (!this.#warnedKeyless.has(relationOid)) {
        this.#warnedKeyless.add(relationOid);
        this.#log.warn({ schema, table }, 'table has no primary key or replica identity index: its changes are not captured');
      }
      this.#byOid.set(relationOid, null);
      return null;
    }
    const columns: SchemaColumn[] = assignFieldNames(specs);
    const topic = tableTopic(this.#options.topicPrefix, schema, table);
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
export async function refuseTopicCollisions(catalog: pg.Client, publication: string, topicPrefix: string): Promise<void> {
  const res = await catalog.query<{ schema: string; table: string }>(
    `SELECT pt.schemaname AS schema, pt.tablename AS table
       FROM pg_catalog.pg_publication_tables pt
       JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
      WHERE pt.pubname = $1
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                     WHERE i.indrelid = c.oid AND (i.indisprimary OR (i.indisreplident AND c.relreplident = 'i')))
      ORDER BY 1, 2`,
    [publication],
  );
  assignTableTopics(topicPrefix, res.rows);
}
