import { previousColumn, type TableShape } from '@walrelay/core';
import type { TableChange } from './coalesce.js';

/**
 * Records of one topic may carry older schema versions than the table's newest (a batch that
 * spans an ALTER, or partitions another sink process is ahead on). They are written with the
 * newest version's names: each field of the record's version maps to the field of the same
 * column (same attnum; same name for schemas without attnums) in the newest, so a renamed
 * column's value lands in the renamed target column. A field with no such column (the column
 * was dropped upstream) is not written.
 */
export type FieldMapping = ReadonlyMap<string, string | null>;

const cache = new WeakMap<TableShape, WeakMap<TableShape, FieldMapping | null>>();

/** The field mapping from a record's shape to the newest, or null when the fields are the same. */
export function fieldMapping(from: TableShape, to: TableShape): FieldMapping | null {
  if (from === to) return null;
  let byTarget = cache.get(from);
  if (!byTarget) cache.set(from, (byTarget = new WeakMap()));
  const hit = byTarget.get(to);
  if (hit !== undefined) return hit;
  const map = new Map<string, string | null>();
  let identity = from.columns.length === to.columns.length;
  for (const c of from.columns) {
    const field = previousColumn(to.columns, c)?.field ?? null;
    if (field !== c.field) identity = false;
    map.set(c.field, field);
  }
  const result = identity ? null : map;
  byTarget.set(to, result);
  return result;
}

function remapRecord(values: Record<string, unknown>, mapping: FieldMapping): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(values)) {
    const to = mapping.get(field);
    if (to === undefined) out[field] = value;
    else if (to !== null) out[to] = value;
  }
  return out;
}

/** The change with its key, row image and unchanged-TOAST list in the newest version's field names. */
export function remapChange(change: TableChange, mapping: FieldMapping | null): TableChange {
  if (!mapping || change.kind === 'truncate') return change;
  if (change.kind === 'delete') return { kind: 'delete', key: remapRecord(change.key, mapping) };
  const env = change.envelope;
  return {
    kind: 'change',
    key: remapRecord(change.key, mapping),
    envelope: {
      ...env,
      before: env.before ? remapRecord(env.before, mapping) : env.before,
      after: env.after ? remapRecord(env.after, mapping) : env.after,
      unchanged_toast: env.unchanged_toast.flatMap((f) => {
        const to = mapping.get(f);
        return to === undefined ? [f] : to === null ? [] : [to];
      }),
    },
  };
}
