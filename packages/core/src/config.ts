import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** How one environment variable maps onto the config tree. */
export interface EnvBinding {
  readonly path: readonly string[];
  readonly type?: 'string' | 'list' | 'int' | 'bool' | 'json';
}

export type EnvBindings = Readonly<Record<string, EnvBinding>>;

/** TLS for any connection: `true` (system CAs) or CA / client certificate files. */
export const tlsFilesConfig = z
  .object({
    caFile: z.string().optional(),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

export const tlsConfig = z.union([z.boolean(), tlsFilesConfig]);

export type TlsSettings = z.output<typeof tlsConfig>;

export interface TlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
}

/** Reads the PEM files a TLS setting names (a missing file is a ConfigError naming it). */
export function tlsOptions(settings: z.output<typeof tlsFilesConfig>): TlsOptions {
  const read = (what: string, file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (cause) {
      throw new ConfigError(`cannot read TLS ${what} file ${file}: ${(cause as Error).message}`, { cause });
    }
  };
  const ca = read('CA', settings.caFile);
  const cert = read('certificate', settings.certFile);
  const key = read('key', settings.keyFile);
  return {
    rejectUnauthorized: settings.rejectUnauthorized,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
}

/** Settings every binary shares: Kafka, registry, topic prefix, HTTP, logging. */
export const kafkaConfig = z
  .object({
    brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).default('walrelay'),
    ssl: tlsConfig.default(false),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string(),
      })
      .optional(),
    connectionTimeoutMs: z.number().int().positive().default(10_000),
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict()
  .prefault({});

export const registryConfig = z
  .object({
    url: z.string().url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
    username: z.string().optional(),
    password: z.string().optional(),
    ...tlsFilesConfig.shape,
  })
  .strict()
  .prefault({});

export const httpConfig = z
  .object({
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port; -1 turns the HTTP server off. */
    port: z.number().int().min(-1).max(65535).default(-1),
  })
  .strict()
  .prefault({});

export const commonConfig = {
  kafka: kafkaConfig,
  schemaRegistry: registryConfig,
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (a dot would break topic names)')
    .default('walrelay'),
  http: httpConfig,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

export const commonEnv: EnvBindings = {
  WALRELAY_KAFKA_BROKERS: { path: ['kafka', 'brokers'], type: 'list' },
  WALRELAY_KAFKA_CLIENT_ID: { path: ['kafka', 'clientId'] },
  WALRELAY_KAFKA_SSL: { path: ['kafka', 'ssl'], type: 'json' },
  WALRELAY_KAFKA_SASL_MECHANISM: { path: ['kafka', 'sasl', 'mechanism'] },
  WALRELAY_KAFKA_SASL_USERNAME: { path: ['kafka', 'sasl', 'username'] },
  WALRELAY_KAFKA_SASL_PASSWORD: { path: ['kafka', 'sasl', 'password'] },
  WALRELAY_SCHEMA_REGISTRY_URL: { path: ['schemaRegistry', 'url'] },
  WALRELAY_SCHEMA_REGISTRY_USERNAME: { path: ['schemaRegistry', 'username'] },
  WALRELAY_SCHEMA_REGISTRY_PASSWORD: { path: ['schemaRegistry', 'password'] },
  WALRELAY_SCHEMA_REGISTRY_CA_FILE: { path: ['schemaRegistry', 'caFile'] },
  WALRELAY_TOPIC_PREFIX: { path: ['topicPrefix'] },
  WALRELAY_HTTP_HOST: { path: ['http', 'host'] },
  WALRELAY_HTTP_PORT: { path: ['http', 'port'], type: 'int' },
  WALRELAY_LOG_LEVEL: { path: ['logLevel'] },
};

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function envValue(name: string, raw: string, binding: EnvBinding): unknown {
  switch (binding.type ?? 'string') {
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name}: expected a whole number, got ${JSON.stringify(raw)}`);
      return Number(raw);
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        throw new ConfigError(`${name}: expected JSON, got ${JSON.stringify(raw)}`);
      }
    default:
      return raw;
  }
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(cause as Error).message}`, { cause });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping of settings`);
  return parsed as Record<string, unknown>;
}

/**
 * Builds a config from a file (optional) and the environment (which wins), validates it
 * against `schema`, and names every bad setting in one ConfigError.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  options: { file?: string | undefined; env?: NodeJS.ProcessEnv; bindings: EnvBindings },
): z.output<S> {
  const raw: Record<string, unknown> = options.file ? readConfigFile(options.file) : {};
  const env = options.env ?? process.env;
  const envErrors: string[] = [];
  for (const [name, binding] of Object.entries(options.bindings)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    try {
      setPath(raw, binding.path, envValue(name, value, binding));
    } catch (e) {
      envErrors.push((e as Error).message);
    }
  }
  if (envErrors.length > 0) throw new ConfigError(`invalid configuration:\n  - ${envErrors.join('\n  - ')}`);
  const result = schema.safeParse(raw);
  if (!result.success) {
    const envByPath = new Map(Object.entries(options.bindings).map(([n, b]) => [b.path.join('.'), n]));
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      const envName = envByPath.get(path);
      return `${path || '(root)'}${envName ? ` (${envName})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  - ${lines.join('\n  - ')}`);
  }
  return result.data;
}

/** Reads `--config <file>` / `--config=<file>` from argv. */
export function configFileFromArgs(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--config' || a === '-c') {
      const file = argv[i + 1];
      if (!file) throw new ConfigError('--config needs a file name');
      return file;
    }
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return undefined;
}
