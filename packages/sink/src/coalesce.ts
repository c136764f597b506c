import type { SchemaColumn, TableShape } from '@walrelay/core';
import type { AppliedEnvelope } from './envelope-reader.js';
import type { ApplyStep, RowValues } from './target.js';

/** One decoded change of a table, in partition order. */
export type TableChange =
  | { readonly kind: 'change'; readonly key: Record<string, unknown>; readonly envelope: AppliedEnvelope }
  /** A tombstone: the row of this key is deleted. */
  | { readonly kind: 'delete'; readonly key: Record<string, unknown> }
  | { readonly kind: 'truncate' };

type Effect =
  | { kind: 'upsert'; key: Record<string, unknown>; values: Map<string, unknown> }
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
  let effects = new Map<string, Effect>();

  for (const ch of changes) {
    if (ch.kind === 'truncate') {
      steps.push(...segmentSteps(shape, keyCols, effects));
      effects = new Map();
      steps.push({ kind: 'truncate' });
      continue;
    }
    const k = keyText(ch.key, keyFields);
    if (ch.kind === 'delete' || ch.envelope.op === 'd') {
      effects.set(k, { kind: 'delete', key: ch.key });
      continue;
    }
    const env = ch.envelope;
    const after = env.after;
    if (!after) continue;
    const unchanged = env.unchanged_toast.length > 0 ? new Set(env.unchanged_toast) : null;
    const prev = effects.get(k);
    const values = prev?.kind === 'upsert' ? prev.values : new Map<string, unknown>();
    for (const field of Object.keys(after)) {
      if (unchanged?.has(field)) continue;
      values.set(field, after[field]);
    }
    for (const f of keyFields) values.set(f, ch.key[f]);
    if (prev?.kind === 'upsert') {
      // Keep the key's position: Map re-set does not move it.
      prev.values = values;
    } else {
      effects.delete(k);
      effects.set(k, { kind: 'upsert', key: ch.key, values });
    }
  }
  steps.push(...segmentSteps(shape, keyCols, effects));
  return steps;
}

function segmentSteps(shape: TableShape, keyCols: readonly SchemaColumn[], effects: Map<string, Effect>): ApplyStep[] {
  if (effects.size === 0) return [];
  const steps: ApplyStep[] = [];
  const deletes: RowValues[] = [];
  const groups = new Map<string, { columns: SchemaColumn[]; rows: RowValues[] }>();
  for (const e of effects.values()) {
    if (e.kind === 'delete') {
      deletes.push(keyCols.map((c) => e.key[c.field] ?? null));
      continue;
    }
    const columns = shape.columns.filter((c) => c.key !== null || e.values.has(c.field));
    const signature = columns.map((c) => c.field).join('\u0000');
    let g = groups.get(signature);
    if (!g) groups.set(signature, (g = { columns, rows: [] }));
    g.rows.push(columns.map((c) => {
      const v = e.values.get(c.field);
      return v === undefined ? null : v;
    }));
  }
  if (deletes.length > 0) steps.push({ kind: 'delete', columns: keyCols, keys: deletes });
  for (const g of groups.values()) steps.push({ kind: 'upsert', columns: g.columns, rows: g.rows });
  return steps;
}
