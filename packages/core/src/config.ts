import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod/v3';
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

/** `kafka.compression`: the codecs walrelay produces with (kafka-compression.ts says why not lz4 or snappy). */
export const COMPRESSIONS = ['none', 'gzip', 'zstd'] as const;

/** Settings every binary shares: Kafka, registry, topic prefix, HTTP, logging. */
export const kafkaConfig = z
  .object({
    brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1).default(['127.0.0.1:9092']).describe('bootstrap brokers (host:port)'),
    clientId: z.string().min(1).default('walrelay').describe('Kafka client id'),
    ssl: tlsConfig.default(false).describe('TLS to the brokers: true, or CA / client certificate files'),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string(),
      })
      .optional(),
    connectionTimeoutMs: z.number().int().min(1).default(10_000).describe('time to connect to a broker (also bounds the start-up check)'),
    requestTimeoutMs: z.number().int().min(1).default(30_000).describe('time for one Kafka request'),
    compression: z.enum(COMPRESSIONS).default('none').describe("compression of the record batches the source produces: none, gzip or zstd (node's zlib, off the event loop); consumers read all three"),
  })
  .strict()
  .default({});

export const registryConfig = z
  .object({
    url: z.string().url().default('http://127.0.0.1:8081/apis/ccompat/v7').describe("Confluent-compatible registry API base (Apicurio's ccompat path, or Confluent's root)"),
    username: z.string().optional(),
    password: z.string().optional(),
    ...tlsFilesConfig.shape,
  })
  .strict()
  .default({});

export const httpConfig = z
  .object({
    host: z.string().default('127.0.0.1').describe('address of /metrics, /healthz, /readyz'),
    /** 0 picks a free port; -1 turns the HTTP server off. */
    port: z.number().int().min(-1).max(65535).default(-1).describe('port of /metrics, /healthz, /readyz (0 picks a free port, -1 turns them off)'),
  })
  .strict()
  .default({});

export const commonConfig = {
  kafka: kafkaConfig,
  schemaRegistry: registryConfig,
  topicPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (a dot would break topic names)')
    .default('walrelay')
    .describe('first part of every topic name'),
  http: httpConfig,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('JSON log lines on stderr at this level and above'),
  /** After SIGTERM/SIGINT the process exits within this time, whatever it is waiting for. */
  shutdownTimeoutMs: z.number().int().min(100).max(600_000).default(4_000).describe('after SIGTERM/SIGINT, exit within this time whatever the process waits for'),
  /** After this long with (almost) no CPU use, the heap grown during a burst goes back to the OS (0: never). */
  idleMemoryReleaseMs: z.number().int().min(0).max(3_600_000).default(10_000).describe('after this long idle, give the heap grown during a burst back to the OS (0: never)'),
};

export const commonEnv: EnvBindings = {
  WALRELAY_KAFKA_BROKERS: { path: ['kafka', 'brokers'], type: 'list' },
  WALRELAY_KAFKA_CLIENT_ID: { path: ['kafka', 'clientId'] },
  WALRELAY_KAFKA_COMPRESSION: { path: ['kafka', 'compression'] },
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
  WALRELAY_SHUTDOWN_TIMEOUT_MS: { path: ['shutdownTimeoutMs'], type: 'int' },
  WALRELAY_IDLE_MEMORY_RELEASE_MS: { path: ['idleMemoryReleaseMs'], type: 'int' },
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

/** Where each setting's value came from, per loaded config object (see settingOrigin). */
const ORIGINS = new WeakMap<object, ReadonlyMap<string, string>>();

/**
 * Where the value of `path` (e.g. `http.port`) of a config returned by loadConfig came
 * from: the environment variable (`WALRELAY_HTTP_PORT`), `key http.port in walrelay.yaml`, or
 * `default`.
 */
export function settingOrigin(config: object, path: string): string {
  const origins = ORIGINS.get(config);
  return (origins && originOf(origins, path)) ?? 'default';
}

/** Every leaf path present in a parsed config file (`a.b.c`), and the objects on the way. */
function filePaths(node: unknown, prefix: string[], out: Set<string>): void {
  if (prefix.length > 0) out.add(prefix.join('.'));
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
  for (const [k, v] of Object.entries(node)) filePaths(v, [...prefix, k], out);
}

/**
 * Builds a config from a file (optional) and the environment (which wins), validates it
 * against `schema`, and names every bad setting in one ConfigError, with where its value
 * came from (the environment variable, or the key in the file).
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  options: { file?: string | undefined; env?: NodeJS.ProcessEnv; bindings: EnvBindings },
): z.output<S> {
  const raw: Record<string, unknown> = options.file ? readConfigFile(options.file) : {};
  const inFile = new Set<string>();
  filePaths(raw, [], inFile);
  const origins = new Map<string, string>();
  for (const p of inFile) origins.set(p, `key ${p} in ${options.file}`);
  const env = options.env ?? process.env;
  const envErrors: string[] = [];
  for (const [name, binding] of Object.entries(options.bindings)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const path = binding.path.join('.');
    try {
      setPath(raw, binding.path, envValue(name, value, binding));
      // The environment replaces the file's value and everything below it.
      for (const p of [...origins.keys()]) if (p === path || p.startsWith(`${path}.`)) origins.delete(p);
      origins.set(path, name);
    } catch (e) {
      envErrors.push(`${path} (${name}): ${(e as Error).message.replace(`${name}: `, '')}`);
    }
  }
  if (envErrors.length > 0) throw new ConfigError(`invalid configuration:\n  - ${envErrors.join('\n  - ')}`);
  const result = schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      // An unknown key can only come from the file (the environment sets known paths only).
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (path ? `${path}.${k}` : k)) : [];
      const origin = keys.length > 0 ? `in ${options.file ?? 'the configuration'}` : originOf(origins, path);
      return `${keys.length > 0 ? keys.join(', ') : path || '(root)'}${origin ? ` (${origin})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  - ${lines.join('\n  - ')}`);
  }
  if (typeof result.data === 'object' && result.data !== null) ORIGINS.set(result.data, origins);
  return result.data;
}

function originOf(origins: ReadonlyMap<string, string>, path: string): string | undefined {
  const parts = path.split('.');
  for (let n = parts.length; n > 0; n--) {
    const origin = origins.get(parts.slice(0, n).join('.'));
    if (origin !== undefined) return origin;
  }
  return undefined;
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

/** One setting as `--help` lists it, read from the config schema itself (so it cannot drift). */
export interface SettingDescription {
  /** File key, e.g. `kafka.brokers`. */
  readonly path: string;
  /** Environment variable, when one is bound. */
  readonly env: string | undefined;
  /** The default as text (`none` when the setting is optional without a default). */
  readonly defaultValue: string;
  /** Accepted values, e.g. `integer 1..32`, `initial | never | initial_only`. */
  readonly accepts: string;
  readonly description: string | undefined;
}

interface ZodNode {
  readonly _def: Record<string, unknown> & { readonly typeName: string };
  readonly description?: string | undefined;
}

/** Wrappers that pass an operator's value on to an inner schema (`.optional()`, `.catch()`, …). */
const WRAPPERS = new Set(['ZodOptional', 'ZodNullable', 'ZodReadonly', 'ZodCatch', 'ZodDefault']);

function unwrap(node: ZodNode): { node: ZodNode; defaultValue: unknown; hasDefault: boolean; description: string | undefined } {
  let n = node;
  let defaultValue: unknown;
  let hasDefault = false;
  let description = n.description;
  for (;;) {
    const def = n._def;
    let inner: ZodNode;
    if (def.typeName === 'ZodEffects') {
      // `.transform(…)` / `.superRefine(…)`: describe the input side (what an operator writes).
      inner = def.schema as ZodNode;
    } else if (def.typeName === 'ZodPipeline') {
      inner = def.in as ZodNode;
    } else if (WRAPPERS.has(def.typeName)) {
      inner = def.innerType as ZodNode;
      // An object's `.default({})` only lets its own settings' defaults apply: each of those is listed instead.
      if (def.typeName === 'ZodDefault' && !hasDefault && unwrap(inner).node._def.typeName !== 'ZodObject') {
        defaultValue = (def.defaultValue as () => unknown)();
        hasDefault = true;
      }
    } else {
      return { node: n, defaultValue, hasDefault, description };
    }
    n = inner;
    description ??= n.description;
  }
}

function accepts(node: ZodNode): string {
  const def = node._def;
  switch (def.typeName) {
    case 'ZodString':
      return 'text';
    case 'ZodBoolean':
      return 'true | false';
    case 'ZodEnum':
      return (def.values as string[]).join(' | ');
    case 'ZodLiteral':
      return JSON.stringify(def.value);
    case 'ZodNumber': {
      const n = node as unknown as { minValue: number | null; maxValue: number | null; isInt: boolean };
      const kind = n.isInt ? 'integer' : 'number';
      const min = n.minValue !== null && Number.isFinite(n.minValue) && n.minValue > Number.MIN_SAFE_INTEGER ? n.minValue : undefined;
      const max = n.maxValue !== null && Number.isFinite(n.maxValue) && n.maxValue < Number.MAX_SAFE_INTEGER ? n.maxValue : undefined;
      if (min !== undefined && max !== undefined) return `${kind} ${min}..${max}`;
      if (min !== undefined) return `${kind} >= ${min}`;
      if (max !== undefined) return `${kind} <= ${max}`;
      return kind;
    }
    case 'ZodArray':
      return `list of ${accepts(unwrap(def.type as ZodNode).node)}`;
    case 'ZodRecord':
      return 'object (JSON)';
    case 'ZodUnion':
      return (def.options as ZodNode[]).map((o) => accepts(unwrap(o).node)).join(', or ');
    case 'ZodObject':
      return `{ ${Object.keys((def.shape as () => Record<string, unknown>)()).join(', ')} }`;
    default:
      return def.typeName.replace(/^Zod/, '').toLowerCase();
  }
}

function defaultText(value: unknown): string {
  if (value === undefined) return 'none';
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : value.map(String).join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** The settings of a config schema, leaf by leaf, with their environment variables and defaults. */
export function describeSettings(schema: z.ZodType, bindings: EnvBindings): SettingDescription[] {
  const envByPath = new Map(Object.entries(bindings).map(([name, b]) => [b.path.join('.'), name]));
  const out: SettingDescription[] = [];
  const walk = (node: ZodNode, path: string[]): void => {
    const u = unwrap(node);
    const def = u.node._def;
    if (def.typeName === 'ZodObject' && !envByPath.has(path.join('.'))) {
      for (const [key, child] of Object.entries((def.shape as () => Record<string, ZodNode>)())) walk(child, [...path, key]);
      return;
    }
    const key = path.join('.');
    out.push({ path: key, env: envByPath.get(key), defaultValue: defaultText(u.hasDefault ? u.defaultValue : undefined), accepts: accepts(u.node), description: u.description });
  };
  walk(schema as unknown as ZodNode, []);
  return out;
}
