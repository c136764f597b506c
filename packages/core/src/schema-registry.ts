import type { z } from 'zod/v3';
import { ConnectionError, DecodeError, SchemaError } from './errors.js';
import { tlsOptions, type registryConfig } from './config.js';
import { http, https } from './node-http.js';
import type { Agent } from 'node:http';

export interface SchemaRegistryOptions {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  readonly url: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** PEM CA bundle, client certificate and key for TLS. */
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
  readonly timeoutMs?: number | undefined;
}

interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** The client for a validated `schemaRegistry` setting (TLS files read here). */
export function registryClientFromConfig(settings: z.output<typeof registryConfig>): SchemaRegistryClient {
  return new SchemaRegistryClient({ url: settings.url, username: settings.username, password: settings.password, ...tlsOptions(settings) });
}

/**
 * A small client of the Confluent Schema Registry REST API (works with Confluent's
 * registry and Apicurio's ccompat API). Schemas are kept as their raw JSON text:
 * walrelay's field properties (`pg`) travel with the schema and sinks read them.
 * Registrations and lookups are cached; ids never change meaning.
 */
export class SchemaRegistryClient {
  readonly #base: URL;
  readonly #options: SchemaRegistryOptions;
  readonly #agent: Agent;
  readonly #byId = new Map<number, Promise<string>>();
  readonly #registered = new Map<string, number>();

  constructor(options: SchemaRegistryOptions) {
    this.#options = options;
    this.#base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.#agent =
      this.#base.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            rejectUnauthorized: options.rejectUnauthorized ?? true,
          })
        : new http.Agent({ keepAlive: true });
  }

  /** Registers `schema` under `subject` (idempotent) and returns its id. */
  async register(subject: string, schema: string): Promise<number> {
    const cacheKey = `${subject}\u0000${schema}`;
    const cached = this.#registered.get(cacheKey);
    if (cached !== undefined) return cached;
    const answer = await this.#request('POST', `subjects/${encodeURIComponent(subject)}/versions`, {
      schema,
      schemaType: 'AVRO',
    });
    if (answer.status === 409) {
      throw new SchemaError(
        `schema registry rejected a new version of subject ${subject} as incompatible with the registered versions: ${answer.body}`,
        { details: { subject } },
      );
    }
    if (answer.status === 422) {
      throw new SchemaError(`schema registry rejected the schema for subject ${subject} as invalid: ${answer.body}`);
    }
    this.#expectOk(answer, `register a schema under ${subject}`);
    const id = parseJson<{ id?: unknown }>(answer.body, 'register answer').id;
    if (typeof id !== 'number') throw new DecodeError(`schema registry answered a registration without an id: ${answer.body}`);
    this.#registered.set(cacheKey, id);
    this.#byId.set(id, Promise.resolve(schema));
    return id;
  }

  /** The schema text registered under `id` (cached forever: ids are immutable). */
  schemaById(id: number): Promise<string> {
    let pending = this.#byId.get(id);
    if (!pending) {
      pending = this.#fetchById(id);
      this.#byId.set(id, pending);
      pending.catch(() => this.#byId.delete(id));
    }
    return pending;
  }

  async #fetchById(id: number): Promise<string> {
    const answer = await this.#request('GET', `schemas/ids/${id}`);
    if (answer.status === 404) throw new SchemaError(`schema id ${id} is not known to the schema registry`);
    this.#expectOk(answer, `fetch schema id ${id}`);
    const schema = parseJson<{ schema?: unknown }>(answer.body, `schema ${id}`).schema;
    if (typeof schema !== 'string') throw new DecodeError(`schema registry answered schema id ${id} without a schema`);
    return schema;
  }

  /** Versions registered under a subject ([] when the subject does not exist). */
  async versions(subject: string): Promise<number[]> {
    const answer = await this.#request('GET', `subjects/${encodeURIComponent(subject)}/versions`);
    if (answer.status === 404) return [];
    this.#expectOk(answer, `list versions of ${subject}`);
    return parseJson<number[]>(answer.body, 'versions');
  }

  /** The newest version registered under a subject (null when the subject does not exist). */
  async latest(subject: string): Promise<{ id: number; schema: string } | null> {
    const answer = await this.#request('GET', `subjects/${encodeURIComponent(subject)}/versions/latest`);
    if (answer.status === 404) return null;
    this.#expectOk(answer, `fetch the latest version of ${subject}`);
    const body = parseJson<{ id?: unknown; schema?: unknown }>(answer.body, `latest version of ${subject}`);
    if (typeof body.id !== 'number' || typeof body.schema !== 'string') throw new DecodeError(`schema registry answered the latest version of ${subject} without an id and schema: ${answer.body.slice(0, 300)}`);
    this.#byId.set(body.id, Promise.resolve(body.schema));
    return { id: body.id, schema: body.schema };
  }

  close(): void {
    this.#agent.destroy();
  }

  #expectOk(answer: HttpAnswer, what: string): void {
    if (answer.status >= 500) {
      throw new ConnectionError('schema registry', `could not ${what}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw new SchemaError(`schema registry could not ${what}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
    }
  }

  #request(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const url = new URL(path, this.#base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/vnd.schemaregistry.v1+json';
    if (this.#options.username !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${this.#options.username}:${this.#options.password ?? ''}`).toString('base64')}`;
    }
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = client.request(url, { method, headers, agent: this.#agent, timeout: this.#options.timeoutMs ?? 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(new ConnectionError('schema registry', `${url.origin}: ${e.message}`, { cause: e })));
      });
      req.on('timeout', () => {
        reject(new ConnectionError('schema registry', `${url.origin}: no answer within ${this.#options.timeoutMs ?? 10_000} ms`));
        req.destroy();
      });
      req.on('error', (e) => reject(new ConnectionError('schema registry', `${url.origin} unreachable: ${e.message}`, { cause: e })));
      req.end(payload);
    });
  }
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new DecodeError(`schema registry answered ${what} with invalid JSON: ${text.slice(0, 200)}`, { cause });
  }
}
