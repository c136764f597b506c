import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Summaries of the profiles `npm run bench -- --profile` collects: for each process, the
 * functions with the most self time (V8 CPU profile) grouped also by package, and the call
 * sites holding the most sampled heap at exit (V8 sampling heap profile).
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

export function summarizeCpu(profile: CpuProfile, top = 15): { totalMs: number; functions: [string, number][]; owners: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const fns = new Map<string, number>();
  const owners = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const k = label(node.callFrame);
    fns.set(k, (fns.get(k) ?? 0) + us);
    const o = owner(node.callFrame);
    owners.set(o, (owners.get(o) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>, n: number): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, v / 1000]);
  return { totalMs: total / 1000, functions: sorted(fns, top), owners: sorted(owners, 10) };
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
    const pid = Number(/\.(\d+)\.\d+\.\d+\.(?:cpu|heap)profile$/.exec(file)?.[1]);
    const who = names.get(pid) ?? `pid ${pid}`;
    if (file.endsWith('.cpuprofile')) {
      const s = summarizeCpu(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile);
      out.push(`### ${who}: CPU (${(s.totalMs / 1000).toFixed(1)} s sampled)`, '', '| self ms | % | function |', '|---:|---:|---|');
      for (const [k, ms] of s.functions) out.push(`| ${ms.toFixed(0)} | ${((100 * ms) / s.totalMs).toFixed(1)} | \`${k}\` |`);
      out.push('', 'By package: ' + s.owners.map(([k, ms]) => `${k} ${((100 * ms) / s.totalMs).toFixed(0)}%`).join(', '), '');
    } else if (file.endsWith('.heapprofile')) {
      const s = summarizeHeap((JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { head: HeapNode }).head);
      out.push(`### ${who}: sampled heap at exit (${(s.totalBytes / 1048576).toFixed(1)} MB)`, '', '| MB | call site |', '|---:|---|');
      for (const [k, b] of s.sites) out.push(`| ${(b / 1048576).toFixed(1)} | \`${k}\` |`);
      out.push('');
    }
  }
  return out.join('\n');
}
