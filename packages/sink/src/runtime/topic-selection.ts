import { tableTopicPattern } from '@walrelay/core';
import { configuredTableTopics, type SinkConfig } from '../config.js';

/**
 * Which topics the sink consumes: those of the `tables` setting (parsed by core's one `tables`
 * parser, quoted names included), else every table topic under the prefix.
 */
export function topicSelector(config: Pick<SinkConfig, 'tables' | 'topicPrefix'>): (topic: string) => boolean {
  if (config.tables.length > 0) {
    const wanted = new Set(configuredTableTopics(config));
    return (topic) => wanted.has(topic);
  }
  const pattern = tableTopicPattern(config.topicPrefix);
  return (topic) => pattern.test(topic);
}
