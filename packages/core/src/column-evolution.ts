import type { ColumnSpec, ValueKind } from './column.js';
import { SchemaError } from './errors.js';

/**
 * How a captured table's columns change between two schema versions, decided once, at the
 * source, from PostgreSQL's attribute numbers: a column keeps its `attnum` through
 * `RENAME COLUMN` and `ALTER COLUMN … TYPE`, and a dropped and re-added column gets a new one.
 *
 * - A rename is carried as `formerNames` (every earlier name, oldest first), so a sink that
 *   finds the old name in its target renames the column instead of adding a second one.
 * - A widening (below) is carried as the new type; sinks widen the target column before they
 *   write a value of it.
 * - Any other type change is refused with a SchemaError naming the table, the column and both
 *   types: the targets' existing rows could not follow it exactly.
 */

/** The column of `previous` that `spec` continues: same attnum when both carry one, else same name. */
export function previousColumn<C extends ColumnSpec>(previous: readonly C[], spec: ColumnSpec): C | undefined {
  if (spec.attnum !== undefined && previous.some((c) => c.attnum !== undefined)) {
    return previous.find((c) => c.attnum === spec.attnum);
  }
  return previous.find((c) => c.name === spec.name);
}

/** PostgreSQL's way of writing a column's type: `int4`, `varchar(20)`, `numeric(10,2)`, `timestamptz(3)`, `int4[]`. */
export function pgTypeText(spec: Pick<ColumnSpec, 'kind' | 'pgType' | 'length' | 'precision' | 'scale' | 'element' | 'elementPgType' | 'domain'>): string {
  const base = spec.kind === 'array' ? (spec.elementPgType ?? spec.pgType.replace(/^_/, '')) : spec.pgType;
  let params = '';
  if (spec.length !== undefined) params = `(${spec.length})`;
  else if ((spec.kind === 'decimal' || spec.element === 'decimal') && spec.precision !== undefined) params = `(${spec.precision},${spec.scale ?? 0})`;
  else if (spec.precision !== undefined && ['time', 'timetz', 'timestamp', 'timestamptz'].includes(spec.kind)) params = `(${spec.precision})`;
  const text = `${base}${params}${spec.kind === 'array' ? '[]' : ''}`;
  return spec.domain !== undefined ? `${spec.domain} (${text})` : text;
}

type Change = 'same' | 'widening' | 'incompatible';

const INT_RANK: Partial<Record<ValueKind, number>> = { int16: 1, int32: 2, int64: 3 };
const TIME_KINDS: ReadonlySet<ValueKind> = new Set(['time', 'timetz', 'timestamp', 'timestamptz']);

/**
 * Whether `next` holds every value of `before` exactly, as the same value (so rows already in
 * a target stay right and the target column only needs a wider type). For a key column the
 * value's Avro encoding must stay the same too (it decides the partition).
 */
export function typeChange(before: ColumnSpec, next: ColumnSpec, isKey: boolean): Change {
  if (pgTypeText(before) === pgTypeText(next) && before.kind === next.kind && sameLabels(before, next)) return 'same';
  if (before.kind === 'array' || next.kind === 'array') return 'incompatible';
  if ((before.domain ?? null) !== (next.domain ?? null)) return 'incompatible';
  const bi = INT_RANK[before.kind];
  const ni = INT_RANK[next.kind];
  if (bi !== undefined && ni !== undefined) return ni >= bi ? 'widening' : 'incompatible';
  if (before.kind === 'float32' && next.kind === 'float64') return isKey ? 'incompatible' : 'widening';
  if (before.kind === 'text' && next.kind === 'text') {
    // varchar(n) -> varchar(m >= n) or text; bpchar pads to its length, so its rows would change.
    if (before.pgType === 'bpchar' || next.pgType === 'bpchar') return 'incompatible';
    if (next.length === undefined) return 'widening';
    return before.length !== undefined && next.length >= before.length ? 'widening' : 'incompatible';
  }
  if (before.kind === 'decimal' && next.kind === 'decimal') {
    // Precision up, same scale: every value keeps its digits (a new scale would rewrite the
    // rows' text in PostgreSQL, 1.50 -> 1.5000, which no WAL carries to a text target).
    return (next.scale ?? 0) === (before.scale ?? 0) && (next.precision ?? 0) >= (before.precision ?? 0) ? 'widening' : 'incompatible';
  }
  if (before.kind === next.kind && TIME_KINDS.has(next.kind)) {
    const bp = before.precision ?? 6;
    const np = next.precision ?? 6;
    return np >= bp ? 'widening' : 'incompatible';
  }
  if (before.kind === 'enum' && next.kind === 'enum' && before.pgType === next.pgType) {
    // ALTER TYPE … ADD VALUE: every earlier label is still there, in the same order.
    const b = before.enumLabels ?? [];
    const n = next.enumLabels ?? [];
    return b.every((l) => n.includes(l)) ? 'widening' : 'incompatible';
  }
  return 'incompatible';
}

function sameLabels(a: ColumnSpec, b: ColumnSpec): boolean {
  const x = a.enumLabels ?? [];
  const y = b.enumLabels ?? [];
  return x.length === y.length && x.every((l, i) => l === y[i]);
}

const WIDENINGS =
  'int2 → int4 → int8, float4 → float8, varchar(n) → varchar(m ≥ n) or text, numeric(p,s) → numeric(q ≥ p,s), ' +
  'time/timestamp precision up, enum labels added';

/**
 * The columns of a new schema version of `table`, given the previous version's: each column
 * continues its predecessor's `formerNames` (plus the predecessor's name when it was renamed).
 * Throws a SchemaError naming the column and both types when a type change is not a widening.
 */
export function evolveColumns<C extends ColumnSpec>(
  table: string,
  previous: readonly ColumnSpec[] | null,
  next: readonly C[],
  /** checkTypes false: `next` is an older definition replayed after the newer one was published (no refusal). */
  options: { readonly checkTypes?: boolean } = {},
): C[] {
  if (!previous || previous.length === 0) return [...next];
  return next.map((spec) => {
    const before = previousColumn(previous, spec);
    if (!before) return spec;
    const change = options.checkTypes === false ? 'same' : typeChange(before, spec, spec.key !== null || before.key !== null);
    if (change === 'incompatible') {
      throw new SchemaError(
        `table ${table} column ${spec.name}${before.name !== spec.name ? ` (formerly ${before.name})` : ''} changed type from ${pgTypeText(before)} to ${pgTypeText(spec)}, ` +
          `which the targets cannot follow exactly (their rows hold values of the old type): walrelay follows ${WIDENINGS}` +
          `${spec.key !== null ? ' (for a key column: those that keep the key\'s encoding)' : ''}. ` +
          `Restore the column's type, or take the table out of the publication and capture it anew under another table name`,
        { details: { table, column: spec.name, from: pgTypeText(before), to: pgTypeText(spec) } },
      );
    }
    const former = [...(before.formerNames ?? [])];
    if (before.name !== spec.name && !former.includes(before.name)) former.push(before.name);
    const kept = former.filter((n) => n !== spec.name);
    if (kept.length === 0) {
      const { formerNames: _drop, ...rest } = spec;
      return rest as C;
    }
    return { ...spec, formerNames: kept };
  });
}
