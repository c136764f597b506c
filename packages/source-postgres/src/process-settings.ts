/**
 * walrelay-source's heap settings (an old generation that grows by half instead of doubling:
 * core's SOURCE_NODE_FLAGS), applied before anything else of the binary is evaluated: its entry
 * module imports this module first, and this module imports nothing but core's heap-settings
 * (which imports nothing). May restart the process in place with them.
 */
import { applyHeapSettings, SOURCE_NODE_FLAGS } from '@walrelay/core/heap-settings';

applyHeapSettings(SOURCE_NODE_FLAGS);
