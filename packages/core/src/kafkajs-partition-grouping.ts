import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';

/**
 * kafkajs 2.2.4 groups a send's messages per partition with
 * `Object.assign(result, { [partition]: [...current, message] })`: every message copies the
 * partition's whole list so far. A send of 5,000 records over 3 partitions copies ≈4 million
 * slots and leaves as many as garbage, per send (6% of the source's CPU in the profile, and a
 * large part of its GC; docs/performance.md). This module must be evaluated before kafkajs is
 * first loaded (kafka-client.ts imports it first): it puts a linear grouping with the same
 * result (partition → messages in their order) into the CommonJS module cache under kafkajs'
 * own file, so kafkajs' producer picks it up. It does so only when the file's text is the
 * known one, so a kafkajs that changes it is left alone.
 */
type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: readonly unknown[];
  partitioner: Partitioner;
}): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  // One argument object for all the messages (kafkajs' partitioners read it and keep nothing).
  const args: { topic: string; partitionMetadata: unknown[]; message: unknown } = { topic, partitionMetadata, message: undefined };
  for (const message of messages) {
    // A message that names its partition goes there: both of kafkajs' partitioners (default and
    // legacy, the only ones walrelay's producers use) return it as given, after filtering the
    // partition list into a new array per message (a twentieth of the source's garbage).
    const named = (message as { partition?: unknown }).partition;
    let partition: number;
    if (typeof named === 'number') {
      partition = named;
    } else {
      args.message = message;
      partition = partitioner(args);
    }
    const list = result[partition];
    if (list) list.push(message);
    else result[partition] = [message];
  }
  return result;
}

const KNOWN_ORIGINAL = `module.exports = ({ topic, partitionMetadata, messages, partitioner }) => {
  if (partitionMetadata.length === 0) {
    return {}
  }

  return messages.reduce((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition] || []
    return Object.assign(result, { [partition]: [...current, message] })
  }, {})
}
`;

function install(): boolean {
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
  } catch {
    return false;
  }
  const cached = require.cache[file];
  if (cached) return cached.exports === groupMessagesPerPartition;
  if (readFileSync(file, 'utf8') !== KNOWN_ORIGINAL) return false;
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = groupMessagesPerPartition;
  require.cache[file] = m;
  return true;
}

/** Whether kafkajs' producer groups messages with the linear function above (false: kafkajs was loaded first, or its file is not the known one). */
export const kafkaGroupingPatched = install();
