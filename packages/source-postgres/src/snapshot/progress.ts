import type { Logger } from '@walrelay/core';

interface Entry {
  readonly schema: string;
  readonly table: string;
  readonly estimatedRows: number;
}

interface TableProgress {
  rows: number;
  done: boolean;
  readonly estimate: number;
}

/**
 * Snapshot progress: a redrawn bar on a terminal (stderr is a TTY), a JSON log line
 * every few seconds otherwise. Rows done / estimated per table and in total, rate, ETA.
 */
export class SnapshotProgress {
  readonly #tables = new Map<string, TableProgress>();
  readonly #log: Logger;
  readonly #tty: boolean;
  readonly #started = Date.now();
  #lastPrint = 0;
  #lines = 0;

  constructor(tables: readonly Entry[], log: Logger) {
    for (const t of tables) this.#tables.set(label(t), { rows: 0, done: false, estimate: t.estimatedRows });
    this.#log = log;
    this.#tty = process.stderr.isTTY === true && process.env.CI === undefined;
    this.#log.info({ tables: tables.length, estimatedRows: tables.reduce((s, t) => s + t.estimatedRows, 0) }, 'snapshot started');
  }

  add(entry: Entry, rows: number): void {
    const p = this.#tables.get(label(entry));
    if (p) p.rows += rows;
    this.#maybePrint(false);
  }

  done(entry: Entry): void {
    const p = this.#tables.get(label(entry));
    if (p) p.done = true;
    this.#maybePrint(true);
  }

  finish(): void {
    const total = this.#total();
    const secs = (Date.now() - this.#started) / 1000;
    if (this.#tty) process.stderr.write('\n');
    this.#log.info({ rows: total.rows, seconds: Math.round(secs * 10) / 10, rowsPerSecond: Math.round(total.rows / Math.max(secs, 0.001)) }, 'snapshot finished');
  }

  #total(): { rows: number; estimate: number; done: number } {
    let rows = 0;
    let estimate = 0;
    let done = 0;
    for (const p of this.#tables.values()) {
      rows += p.rows;
      estimate += Math.max(p.estimate, p.rows);
      if (p.done) done++;
    }
    return { rows, estimate, done };
  }

  #maybePrint(force: boolean): void {
    const now = Date.now();
    const every = this.#tty ? 200 : 5000;
    if (!force && now - this.#lastPrint < every) return;
    this.#lastPrint = now;
    const total = this.#total();
    const secs = Math.max((now - this.#started) / 1000, 0.001);
    const rate = total.rows / secs;
    const eta = rate > 0 ? Math.max(0, (total.estimate - total.rows) / rate) : null;
    if (!this.#tty) {
      this.#log.info(
        { rows: total.rows, estimatedRows: total.estimate, tablesDone: total.done, tables: this.#tables.size, rowsPerSecond: Math.round(rate), etaSeconds: eta === null ? null : Math.round(eta) },
        'snapshot progress',
      );
      return;
    }
    const lines: string[] = [];
    for (const [name, p] of this.#tables) {
      if (p.done && p.rows === 0) continue;
      lines.push(`${bar(p.rows, Math.max(p.estimate, p.rows), 24)} ${name} ${p.rows}/${Math.max(p.estimate, p.rows)}${p.done ? ' done' : ''}`);
    }
    lines.push(`${bar(total.rows, total.estimate, 24)} total ${total.rows}/${total.estimate}  ${Math.round(rate)} rows/s  ETA ${eta === null ? '?' : `${Math.round(eta)}s`}`);
    const shown = lines.slice(-12);
    let out = this.#lines > 0 ? `\x1b[${this.#lines}A` : '';
    for (const l of shown) out += `\x1b[2K${l}\n`;
    this.#lines = shown.length;
    process.stderr.write(out);
  }
}

function label(t: Entry): string {
  return `${t.schema}.${t.table}`;
}

function bar(done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}%`;
}
