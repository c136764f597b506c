import type { StatusReport } from './status.js';

/** Renders rows as aligned columns (first row = header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n');
}

export function bytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function seconds(s: number): string {
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** The human-readable status (`walrelay status` without --json). */
export function formatStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push(`walrelay status  prefix ${r.topicPrefix}  at ${r.checkedAt}  ${r.healthy ? 'HEALTHY' : 'UNHEALTHY'}`);
  out.push('');
  out.push('SOURCES');
  const srows: string[][] = [['slot', 'state', 'lock holder', 'confirmed LSN', 'WAL retained', 'last commit', 'snapshot', 'partial tx']];
  for (const s of r.sources) {
    const cp = s.checkpoint;
    srows.push([
      s.slot,
      !s.exists ? 'MISSING' : s.active ? `active (pid ${s.activePid})` : 'inactive',
      s.lockHolder ? `pid ${s.lockHolder.pid} ${s.lockHolder.clientAddr ?? 'local'}` : '-',
      s.confirmedLsn ?? '-',
      bytes(s.retainedWalBytes),
      cp ? `${seconds(cp.ageSeconds)} ago${cp.commitLsn === '0/0' ? '' : ` (${cp.commitLsn})`}` : '-',
      cp ? cp.snapshot : '-',
      cp?.partial ? `${cp.partial.commitLsn}: ${cp.partial.publishedChanges} out` : '-',
    ]);
  }
  out.push(table(srows));
  const incremental = r.sources.flatMap((s) => (s.checkpoint?.incremental ?? []).map((e) => [s.slot, e.table, e.reason, e.rows, e.lastKey ?? '(first chunk)']));
  if (incremental.length > 0) {
    out.push('');
    out.push('INCREMENTAL SNAPSHOTS (from the checkpoint; the next chunk starts after the last key)');
    out.push(table([['slot', 'table', 'reason', 'rows so far', 'last key'], ...incremental]));
  }
  out.push('');
  out.push('TOPICS (end offset per partition)');
  if (r.topics.length === 0) out.push('(no table topics)');
  else out.push(table([['topic', 'end offsets'], ...r.topics.map((t) => [t.topic, t.partitions.map((p) => `${p.partition}:${p.high}`).join(' ')])]));
  for (const sink of r.sinks) {
    out.push('');
    out.push(
      `SINK GROUP ${sink.groupId}  ${sink.state}, ${sink.members.length} member(s)${sink.members.length ? ': ' + sink.members.map((m) => `${m.clientId}@${m.host}`).join(', ') : ''}`,
    );
    if (sink.target) out.push(`  target ${sink.target}`);
    out.push(
      `  target caught up to LSN ${sink.caughtUpToLsn ?? '-'}, ${seconds(sink.secondsBehind)} behind; ${sink.totalLag} change(s) pending` +
        (sink.lastApplied ? `; last change applied was committed ${seconds(sink.lastApplied.ageSeconds)} ago` : ''),
    );
    if (sink.deadLetterTopic) out.push(`  dead letters: ${sink.deadLetters} in ${sink.deadLetterTopic}`);
    const prows: string[][] = [['topic/partition', 'end', 'kafka offset', 'target offset', 'target LSN', 'lag', 'oldest pending commit']];
    for (const p of sink.partitions) {
      prows.push([`${p.topic}/${p.partition}`, p.high, p.kafkaOffset ?? '-', p.targetOffset ?? '-', p.targetLsn ?? '-', `${p.lagExact ? '' : '≈'}${p.lag}`, p.oldestPendingCommit ?? '-']);
    }
    out.push(table(prows).replace(/^/gm, '  '));
  }
  for (const tg of r.targets) {
    if (tg.tableOwners.length === 0) continue;
    out.push('');
    out.push(`TARGET TABLES of ${tg.target} (walrelay_table_owners: the topic that writes each; another topic mapping to a name is refused)`);
    out.push(table([['target table', 'source table', 'topic', 'claimed'], ...tg.tableOwners.map((o) => [o.table, o.source, o.topic, o.claimedAt])]));
  }
  if (r.deadLetterTopics.length > 0) {
    out.push('');
    out.push(table([['dead-letter topic', 'records'], ...r.deadLetterTopics.map((d) => [d.topic, String(d.records)])]));
  }
  if (r.warnings.length > 0) {
    out.push('');
    for (const w of r.warnings) out.push(`warning: ${w}`);
  }
  if (r.problems.length > 0) {
    out.push('');
    for (const p of r.problems) out.push(`UNHEALTHY: ${p}`);
  }
  return out.join('\n') + '\n';
}
