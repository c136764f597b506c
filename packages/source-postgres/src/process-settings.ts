/**
 * walrelay-source's process settings, applied before anything else of the binary is evaluated: its
 * entry module imports this module first, and this module imports nothing but core's
 * heap-settings (which imports nothing). May restart the process in place with them.
 */
import { applyHeapSettings, DEFAULT_NODE_FLAGS } from '@walrelay/core/heap-settings';

applyHeapSettings(DEFAULT_NODE_FLAGS);
