import { tableTopic, tableTopicPattern } from '@walrelay/core';
import type { SinkConfig } from '../config.js';

/** Which topics the sink consumes: those of the `tables` setting, else every table topic under the prefix. */
export function topicSelector(config: Pick<SinkConfig, 'tables' | 'topicPrefix'>): (topic: string) => boolean {
  if (config.tables.length > 0) {
    const wanted = new Set(
      config.tables.map((spec) => {
        const dot = spec.indexOf('.');
        const schema = dot === -1 ? 'public' : spec.slice(0, dot);
        const table = dot === -1 ? spec : spec.slice(dot + 1);
        return tableTopic(config.topicPrefix, schema, table);
      }),
    );
    return (topic) => wanted.has(topic);
  }
  const pattern = tableTopicPattern(config.topicPrefix);
  return (topic) => pattern.test(topic);
}
