import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Summaries of the profiles `npm run bench -- --profile` collects: for each process, the
 * functions with the most self and inclusive time over its busy samples (V8 CPU profile), self
 * time grouped also by package, and the call sites holding the most sampled heap at exit (V8
 * sampling heap profile).
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface CpuNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly CpuNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** Where code lives: a walrelay package, an npm package, node itself, or V8's pseudo-frames. */
export function owner(frame: CallFrame): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/packages\/([^/]+)\//.exec(url);
  if (ours) return `@walrelay/${ours[1]}`;
  if (url.startsWith('node:')) return 'node';
  return path.basename(url);
}

function label(frame: CallFrame): string {
  const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'} ${where}`.trim();
}

/** V8's pseudo-frames that are not work: the process waiting, and the tree's root. */
const NOT_BUSY = new Set(['(idle)', '(root)']);

/**
 * Self time per function and per package, and inclusive time per function (a function's own
 * samples and those of everything it called), over the busy samples: percentages of a process
 * that idles most of its life would otherwise be percentages of its waiting.
 */
export function summarizeCpu(
  profile: CpuProfile,
  top = 15,
): { totalMs: number; busyMs: number; functions: [string, number][]; owners: [string, number][]; inclusive: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const fns = new Map<string, number>();
  const owners = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let busy = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    if (NOT_BUSY.has(node.callFrame.functionName) && !node.callFrame.url) continue;
    busy += us;
    const k = label(node.callFrame);
    fns.set(k, (fns.get(k) ?? 0) + us);
    const o = owner(node.callFrame);
    owners.set(o, (owners.get(o) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || (NOT_BUSY.has(frame.functionName) && !frame.url)) continue;
      const name = label(frame);
      if (seen.has(name)) continue; // recursion counts once
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>, n: number): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, v / 1000]);
  return { totalMs: total / 1000, busyMs: busy / 1000, functions: sorted(fns, top), owners: sorted(owners, 10), inclusive: sorted(inclusive, top) };
}

export function summarizeHeap(head: HeapNode, top = 10): { totalBytes: number; sites: [string, number][] } {
  const sites = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode): void => {
    if (n.selfSize > 0) {
      const k = label(n.callFrame);
      sites.set(k, (sites.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  return { totalBytes: total, sites: [...sites.entries()].sort((a, b) => b[1] - a[1]).slice(0, top) };
}

/** Markdown for every profile in `dir`; `names` maps a pid to the process's bench name. */
export function summarizeProfiles(dir: string, names: ReadonlyMap<number, string>): string {
  const out: string[] = [];
  for (const file of readdirSync(dir).sort()) {
    const pid = Number((/\.(\d+)\.\d+\.\d+\.(?:cpu|heap)profile$/.exec(file) ?? /^Alloc\.(\d+)\.allocprofile$/.exec(file))?.[1]);
    const who = names.get(pid) ?? `pid ${pid}`;
    if (file.endsWith('.cpuprofile')) {
      const s = summarizeCpu(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile);
      const pct = (ms: number): string => (s.busyMs > 0 ? ((100 * ms) / s.busyMs).toFixed(1) : '0');
      out.push(`### ${who}: CPU (${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(2)} s busy; % of busy)`, '', '| self ms | % | function |', '|---:|---:|---|');
      for (const [k, ms] of s.functions) out.push(`| ${ms.toFixed(0)} | ${pct(ms)} | \`${k}\` |`);
      out.push('', 'By package: ' + s.owners.map(([k, ms]) => `${k} ${pct(ms)}%`).join(', '), '');
      out.push('| inclusive ms | % | function (with what it called) |', '|---:|---:|---|');
      for (const [k, ms] of s.inclusive) out.push(`| ${ms.toFixed(0)} | ${pct(ms)} | \`${k}\` |`);
      out.push('');
    } else if (file.endsWith('.heapprofile') || file.endsWith('.allocprofile')) {
      // --profile: what is alive at exit; --alloc-profile: everything allocated (test/bench/allocation-profile.mjs).
      const lifetime = file.endsWith('.allocprofile');
      const s = summarizeHeap((JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { head: HeapNode }).head, lifetime ? 15 : 10);
      const what = lifetime ? `allocated during its life, collected objects included (${(s.totalBytes / 1048576).toFixed(0)} MB sampled)` : `sampled heap at exit (${(s.totalBytes / 1048576).toFixed(1)} MB)`;
      out.push(`### ${who}: ${what}`, '', '| MB | call site |', '|---:|---|');
      for (const [k, b] of s.sites) out.push(`| ${(b / 1048576).toFixed(1)} | \`${k}\` |`);
      out.push('');
    }
  }
  return out.join('\n');
}
