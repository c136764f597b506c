import { z } from 'zod/v3';
import { ConfigError } from '../errors.js';

/** A PostgreSQL table by its exact schema and table names. */
export interface TableName {
  readonly schema: string;
  readonly table: string;
}

/**
 * Parses one entry of the `tables` setting (source and sinks alike): `schema.table`, or
 * `table` for schema `public`. A part in double quotes may hold anything (`""` is a quote):
 * `"My Schema"."a.b"`. Unquoted parts are taken exactly as written (no case folding) and end
 * at the first dot. Throws ConfigError naming the entry.
 */
export function parseTableName(spec: string): TableName {
  const text = spec.trim();
  const parts: string[] = [];
  let i = 0;
  const bad = (why: string): ConfigError => new ConfigError(`table name ${JSON.stringify(spec)}: ${why}`, { details: { setting: 'tables', entry: spec } });
  while (i <= text.length) {
    if (text[i] === '"') {
      let j = i + 1;
      let name = '';
      for (;;) {
        if (j >= text.length) throw bad('unterminated quote');
        if (text[j] === '"') {
          if (text[j + 1] === '"') {
            name += '"';
            j += 2;
            continue;
          }
          break;
        }
        name += text[j];
        j++;
      }
      if (name === '') throw bad('empty quoted name');
      parts.push(name);
      i = j + 1;
      if (i < text.length && text[i] !== '.') throw bad(`unexpected ${JSON.stringify(text[i])} after a quoted name (expected a dot)`);
    } else {
      const dot = text.indexOf('.', i);
      const end = dot === -1 ? text.length : dot;
      const name = text.slice(i, end);
      if (name === '') throw bad('empty name part');
      if (name.includes('"')) throw bad('a quote inside an unquoted name (quote the whole part: "a""b")');
      parts.push(name);
      i = end;
    }
    if (i >= text.length) break;
    i++; // the dot
    if (i >= text.length) throw bad('ends with a dot');
  }
  if (parts.length === 1) return { schema: 'public', table: parts[0] as string };
  if (parts.length === 2) return { schema: parts[0] as string, table: parts[1] as string };
  throw bad(`${parts.length} name parts, expected schema.table or table (quote a part that holds a dot)`);
}

/** Parses every entry of a `tables` setting, refusing duplicates. */
export function parseTablesSetting(specs: readonly string[], setting = 'tables'): TableName[] {
  const seen = new Map<string, string>();
  const out: TableName[] = [];
  for (const spec of specs) {
    let t: TableName;
    try {
      t = parseTableName(spec);
    } catch (e) {
      throw e instanceof ConfigError ? new ConfigError(`${setting}: ${e.message}`, { details: { setting, entry: spec } }) : e;
    }
    const key = tableKey(t);
    const first = seen.get(key);
    if (first !== undefined) throw new ConfigError(`${setting}: ${JSON.stringify(first)} and ${JSON.stringify(spec)} name the same table`, { details: { setting } });
    seen.set(key, spec);
    out.push(t);
  }
  return out;
}

function quotePart(name: string): string {
  return /^[^".\s]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The `tables` syntax of a table (quoted only where needed); parseTableName reads it back. */
export function formatTableName(t: TableName): string {
  return `${quotePart(t.schema)}.${quotePart(t.table)}`;
}

/** An unambiguous map key of a table (NUL never occurs in PostgreSQL names). */
export function tableKey(t: TableName): string {
  return `${t.schema}\u0000${t.table}`;
}

/** The `tables` setting of the source and the sinks: a list of table names, each checked by parseTableName. */
export const tablesSetting = z
  .array(z.string().min(1))
  .default([])
  .superRefine((specs, ctx) => {
    try {
      parseTablesSetting(specs, 'tables');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message.replace(/^tables: /, '') : String(e) });
    }
  });
