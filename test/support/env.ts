// The harnesses start walrelay's processes with their own node: one older than walrelay's
// minimum is refused here, before anything is started (@walrelay/core/supported-node).
import '@walrelay/core/supported-node';

/** Addresses of the local services (scripts/services.sh), overridable like the binaries'. */
export const PG_URL = process.env.WALRELAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/walrelay';
export const KAFKA_BROKERS = (process.env.WALRELAY_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const REGISTRY_URL = process.env.WALRELAY_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
export const MYSQL_URL = process.env.WALRELAY_TEST_MYSQL_URL ?? 'mysql://walrelay:walrelay@127.0.0.1:3306/walrelay_test';
export const MSSQL_URL = process.env.WALRELAY_TEST_MSSQL_URL;

/** A short unique suffix for names of one test run (slots, topics, schemas, groups). */
export function uniqueName(base: string): string {
  return `${base}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toLowerCase();
}
