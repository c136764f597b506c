import type { SchemaColumn, TableShape } from '@walrelay/core';
import type { AppliedEnvelope } from './envelope-reader.js';
import type { ApplyStep, RowValues } from './target.js';

/** One decoded change of a table, in partition order. */
export type TableChange =
  | { readonly kind: 'change'; readonly key: Record<string, unknown>; readonly envelope: AppliedEnvelope }
  /** A tombstone: the row of this key is deleted. */
  | { readonly kind: 'delete'; readonly key: Record<string, unknown> }
  | { readonly kind: 'truncate' };

/**
 * A key's effect so far. An upsert made by one change keeps that change's `after` as it is; the
 * merged column map is made only when a second change of the key comes in the same batch (most
 * batches change each key once: the map, the list of fields and the column filter per row were a
 * third of the sink's coalescing time and garbage; docs/performance.md, Session 13).
 */
type Effect =
  | { kind: 'upsert'; key: Record<string, unknown>; after: Record<string, unknown>; values: null }
  | { kind: 'upsert'; key: Record<string, unknown>; after: null; values: Map<string, unknown> }
  | { kind: 'delete'; key: Record<string, unknown> };

/** A canonical text of a key, for grouping changes of one row. */
export function keyText(key: Record<string, unknown>, fields: readonly string[]): string {
  let out = '';
  for (const f of fields) {
    const v = key[f];
    out +=
      typeof v === 'bigint'
        ? `n${v}`
        : Buffer.isBuffer(v)
          ? `b${v.toString('base64')}`
          : `j${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))}`;
    out += '\u0000';
  }
  return out;
}

/**
 * Folds a batch of changes to one table into their final effect per key, in order:
 * an upsert merges the columns of successive creates/updates (a column marked as
 * unchanged TOAST keeps the value an earlier change in the batch gave it, and is
 * otherwise not written at all); a delete replaces whatever came before it; a
 * truncate ends a segment. Steps: per segment its deletes, then its upserts grouped
 * by the set of columns they write, then the truncate.
 */
export function coalesce(shape: TableShape, changes: readonly TableChange[]): ApplyStep[] {
  const keyCols = shape.columns.filter((c) => c.key !== null).sort((a, b) => (a.key as number) - (b.key as number));
  const keyFields = keyCols.map((c) => c.field);
  const steps: ApplyStep[] = [];
  let effects = new Map<string | bigint, Effect>();

  for (const ch of changes) {
    if (ch.kind === 'truncate') {
      steps.push(...segmentSteps(shape, keyCols, keyFields, effects));
      effects = new Map();
      steps.push({ kind: 'truncate' });
      continue;
    }
    const k = effectKey(ch.key, keyFields);
    if (ch.kind === 'delete' || ch.envelope.op === 'd') {
      effects.set(k, { kind: 'delete', key: ch.key });
      continue;
    }
    const env = ch.envelope;
    const after = env.after;
    if (!after) continue;
    const prev = effects.get(k);
    if (prev?.kind !== 'upsert' && env.unchanged_toast.length === 0) {
      // The key's first upsert in the segment, with every column it carries: kept as it is.
      effects.delete(k);
      effects.set(k, { kind: 'upsert', key: ch.key, after, values: null });
      continue;
    }
    const unchanged = env.unchanged_toast.length > 0 ? new Set(env.unchanged_toast) : null;
    const values = prev?.kind === 'upsert' ? valuesOf(prev, keyFields) : new Map<string, unknown>();
    merge(values, after, unchanged, ch.key, keyFields);
    if (prev?.kind === 'upsert') {
      // Keep the key's position: Map re-set does not move it.
      effects.set(k, { kind: 'upsert', key: prev.key, after: null, values });
    } else {
      effects.delete(k);
      effects.set(k, { kind: 'upsert', key: ch.key, after: null, values });
    }
  }
  steps.push(...segmentSteps(shape, keyCols, keyFields, effects));
  return steps;
}

/**
 * The grouping key of a row: a single bigint key column is its own key (a Map compares bigints
 * by value, and never equal to a string), any other key its canonical text.
 */
function effectKey(key: Record<string, unknown>, fields: readonly string[]): string | bigint {
  if (fields.length === 1) {
    const v = key[fields[0]!];
    if (typeof v === 'bigint') return v;
  }
  return keyText(key, fields);
}

/** Sets a change's columns over `values`: its after's fields but the unchanged TOAST ones, then the key's. */
function merge(values: Map<string, unknown>, after: Record<string, unknown>, unchanged: ReadonlySet<string> | null, key: Record<string, unknown>, keyFields: readonly string[]): void {
  for (const field of Object.keys(after)) {
    if (unchanged?.has(field)) continue;
    values.set(field, after[field]);
  }
  for (const f of keyFields) values.set(f, key[f]);
}

/** The column map of an upsert kept as its one change. */
function valuesOf(e: { key: Record<string, unknown>; after: Record<string, unknown> | null; values: Map<string, unknown> | null }, keyFields: readonly string[]): Map<string, unknown> {
  if (e.values) return e.values;
  const values = new Map<string, unknown>();
  merge(values, e.after as Record<string, unknown>, null, e.key, keyFields);
  return values;
}

/**
 * A segment's steps: its deletes, then its upserts grouped by the set of columns they write
 * (the key columns and those the upsert has a value for), in the segment's order.
 */
function segmentSteps(shape: TableShape, keyCols: readonly SchemaColumn[], keyFields: readonly string[], effects: ReadonlyMap<string | bigint, Effect>): ApplyStep[] {
  if (effects.size === 0) return [];
  const all = shape.columns;
  const steps: ApplyStep[] = [];
  const deletes: RowValues[] = [];
  const groups = new Map<string, { columns: readonly SchemaColumn[]; rows: RowValues[] }>();
  /** The group of rows that write every column (most of them), found without a signature per row. */
  let full: { columns: readonly SchemaColumn[]; rows: RowValues[] } | undefined;
  for (const e of effects.values()) {
    if (e.kind === 'delete') {
      deletes.push(keyCols.map((c) => e.key[c.field] ?? null));
      continue;
    }
    if (e.after !== null && writesEvery(all, e.after)) {
      if (!full) {
        const signature = all.map((c) => c.field).join('\u0000');
        full = groups.get(signature);
        if (!full) groups.set(signature, (full = { columns: all, rows: [] }));
      }
      const row: unknown[] = new Array<unknown>(all.length);
      for (let i = 0; i < all.length; i++) {
        const c = all[i]!;
        const v = c.key !== null ? e.key[c.field] : e.after[c.field];
        row[i] = v === undefined ? null : v;
      }
      full.rows.push(row);
      continue;
    }
    const values = valuesOf(e, keyFields);
    const columns = all.filter((c) => c.key !== null || values.has(c.field));
    const signature = columns.map((c) => c.field).join('\u0000');
    let g = groups.get(signature);
    if (!g) groups.set(signature, (g = { columns, rows: [] }));
    if (columns.length === all.length) full = g;
    g.rows.push(columns.map((c) => {
      const v = values.get(c.field);
      return v === undefined ? null : v;
    }));
  }
  if (deletes.length > 0) steps.push({ kind: 'delete', columns: keyCols, keys: deletes });
  for (const g of groups.values()) steps.push({ kind: 'upsert', columns: g.columns, rows: g.rows });
  return steps;
}

/** Whether a one-change upsert writes every column: each is a key column or a field of its after. */
function writesEvery(columns: readonly SchemaColumn[], after: Record<string, unknown>): boolean {
  for (const c of columns) if (c.key === null && !Object.hasOwn(after, c.field)) return false;
  return true;
}
