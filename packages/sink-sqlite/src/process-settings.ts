/**
 * walrelay-sink-sqlite's heap settings (a smaller young generation than the other binaries'),
 * applied before anything else of the binary is evaluated: its entry module imports this module
 * first, and this module imports nothing but core's heap-settings (which imports nothing). May
 * restart the process in place with them.
 */
import { applyHeapSettings, SQLITE_SINK_NODE_FLAGS } from '@walrelay/core/heap-settings';

applyHeapSettings(SQLITE_SINK_NODE_FLAGS);
