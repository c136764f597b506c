/**
 * The default heap settings (DEFAULT_NODE_FLAGS), applied on import: the first import of the
 * binaries that run with them (walrelay-source, walrelay-sink-mysql, walrelay-sink-mssql). It
 * imports nothing but heap-settings, so it runs before the rest of the binary is evaluated, and
 * may restart the process in place with them.
 */
import { applyHeapSettings } from './heap-settings.js';

applyHeapSettings();
