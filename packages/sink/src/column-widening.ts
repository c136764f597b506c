/**
 * Whether a target column must be widened to hold what a new schema version carries.
 *
 * A dialect renders the type it wants for a column (its `columnType`) and reads back the type a
 * column has (from its catalog) in the same spelling; `needsWidening` compares the two within a
 * type family (integers, floats, decimals, strings, times) and answers true only when the wanted
 * type holds more. It never narrows, and it leaves alone a column of another family (a table a
 * user created with types of their own choosing, or a VARCHAR demoted to TEXT for row size).
 * Pure, so each dialect's choice is unit-tested without a database.
 */

type Family =
  | { readonly family: 'int'; readonly rank: number }
  | { readonly family: 'float'; readonly rank: number }
  | { readonly family: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly family: 'string'; readonly chars: number }
  | { readonly family: 'datetime' | 'datetime2' | 'time'; readonly fsp: number }
  | { readonly family: 'other' };

const INT_RANKS: Readonly<Record<string, number>> = { TINYINT: 1, SMALLINT: 2, MEDIUMINT: 3, INT: 4, INTEGER: 4, BIGINT: 5 };
/** Characters a MySQL TEXT type holds in utf8mb4 (bytes / 4). */
const TEXT_CHARS: Readonly<Record<string, number>> = { TINYTEXT: 63, TEXT: 16_383, MEDIUMTEXT: 4_194_303, LONGTEXT: Number.POSITIVE_INFINITY };

/** Reads a type as the dialects spell it: `BIGINT`, `int(11)`, `VARCHAR(20)`, `NVARCHAR(MAX)`, `DECIMAL(10,2)`, `DATETIME(3)`, `FLOAT(53)`. */
export function sqlTypeFamily(text: string): Family {
  const t = text.trim().toUpperCase().replace(/\s+UNSIGNED$/, '');
  const m = /^([A-Z0-9]+)(?:\(\s*([0-9]+|MAX)\s*(?:,\s*([0-9]+)\s*)?\))?/.exec(t);
  if (!m) return { family: 'other' };
  const name = m[1] as string;
  const a = m[2];
  const b = m[3];
  if (INT_RANKS[name] !== undefined && name !== 'TINYINT') return { family: 'int', rank: INT_RANKS[name] as number };
  if (name === 'TINYINT' && a !== '1') return { family: 'int', rank: 1 };
  if (name === 'REAL' || (name === 'FLOAT' && (a === undefined || Number(a) <= 24))) return { family: 'float', rank: 1 };
  if (name === 'DOUBLE' || name === 'FLOAT') return { family: 'float', rank: 2 };
  if (name === 'DECIMAL' || name === 'NUMERIC') return { family: 'decimal', precision: Number(a ?? 10), scale: Number(b ?? 0) };
  if (name === 'VARCHAR' || name === 'NVARCHAR') {
    return { family: 'string', chars: a === 'MAX' ? Number.POSITIVE_INFINITY : Number(a ?? 1) };
  }
  if (TEXT_CHARS[name] !== undefined) return { family: 'string', chars: TEXT_CHARS[name] as number };
  if (name === 'DATETIME' || name === 'DATETIME2' || name === 'TIME') {
    return { family: name === 'DATETIME' ? 'datetime' : name === 'DATETIME2' ? 'datetime2' : 'time', fsp: Number(a ?? 0) };
  }
  return { family: 'other' };
}

/** True when `wanted` holds every value of `current` and more, in the same family. */
export function needsWidening(current: string, wanted: string): boolean {
  const c = sqlTypeFamily(current);
  const w = sqlTypeFamily(wanted);
  if (c.family !== w.family) return false;
  switch (w.family) {
    case 'int':
    case 'float':
      return w.rank > (c as typeof w).rank;
    case 'decimal': {
      const cd = c as typeof w;
      const more = w.precision - w.scale >= cd.precision - cd.scale && w.scale >= cd.scale;
      return more && (w.precision !== cd.precision || w.scale !== cd.scale);
    }
    case 'string':
      return w.chars > (c as typeof w).chars;
    case 'datetime':
    case 'datetime2':
    case 'time':
      return w.fsp > (c as typeof w).fsp;
    case 'other':
      return false;
  }
}
