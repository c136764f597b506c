/**
 * The oldest Node.js walrelay runs on (package.json's engines), checked on import: the first
 * import of every walrelay binary and of the test harnesses. On an older node, the native modules
 * built for the node walrelay was installed with crash the process without a word (a segmentation
 * fault, and nothing in the log, on the machine's Node 20). This module imports nothing, so it
 * refuses before any of them loads: it names the node found and exits with 2 (EXIT.USAGE in
 * service.ts: a bad environment, nothing touched).
 */
export const MIN_NODE_MAJOR = 22;

/** Why `version` (process.versions.node) cannot run walrelay, or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `node ${version} is older than ${MIN_NODE_MAJOR}, the oldest walrelay runs on (its native modules are built for the node it was installed with): run it with Node.js ${MIN_NODE_MAJOR} or later (in this repository, \`source scripts/node-env.sh\` puts one on PATH)`;
}

const why = unsupportedNode(process.versions.node);
if (why !== undefined) {
  process.stderr.write(`walrelay: ${why}\n`);
  process.exit(2);
}
