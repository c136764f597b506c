// @kafkajs/confluent-schema-registry against Apicurio Registry's Confluent-compatible API (ccompat),
// as started by scripts/services.sh (global BACKWARD compatibility, canonical-hash lookups).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import csr from '@kafkajs/confluent-schema-registry';
import { REGISTRY_URL, unique } from './helpers.js';

// CommonJS package: take the classes from the default export.
const { SchemaRegistry, SchemaType } = csr;

const topic = unique('walrelay.services_test.items');
const keySubject = `${topic}-key`;
const valueSubject = `${topic}-value`;
const registry = new SchemaRegistry({ host: REGISTRY_URL });

// Field properties carry the PostgreSQL column type; the product depends on them surviving.
const keySchema = {
  type: 'record',
  name: 'Key',
  namespace: 'walrelay.services_test.items',
  fields: [{ name: 'id', type: 'int', pg: { type: 'int4', typmod: -1, nullable: false, keyPosition: 1 } }],
};
const valueV1 = {
  type: 'record',
  name: 'Value',
  namespace: 'walrelay.services_test.items',
  fields: [
    { name: 'id', type: 'int', pg: { type: 'int4', typmod: -1, nullable: false, keyPosition: 1 } },
    { name: 'name', type: ['null', 'string'], default: null, pg: { type: 'varchar', typmod: 68, nullable: true } },
  ],
};
// Backward compatible: a new optional field with a default.
const valueV2 = {
  ...valueV1,
  fields: [...valueV1.fields, { name: 'price', type: ['null', 'double'], default: null, pg: { type: 'float8', typmod: -1, nullable: true } }],
};
// Incompatible with v2: the type of an existing field changes.
const valueTypeChange = {
  ...valueV2,
  fields: [valueV2.fields[0], { name: 'name', type: 'long', pg: { type: 'int8' } }, valueV2.fields[2]],
};
// Incompatible with v2: a new required field without a default.
const valueNewRequired = { ...valueV2, fields: [...valueV2.fields, { name: 'qty', type: 'int', pg: { type: 'int4' } }] };

// avsc decodes records into instances of generated classes; compare their fields.
const plain = (v: unknown) => ({ ...(v as object) });
const avro = (schema: object) => ({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }) as const;

async function getJson(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${REGISTRY_URL}${path}`, { headers: { accept: 'application/vnd.schemaregistry.v1+json' } });
  return { status: res.status, body: await res.json() };
}

describe('Schema Registry (Apicurio ccompat) with @kafkajs/confluent-schema-registry', () => {
  let keyId: number;
  let v1Id: number;
  let v2Id: number;
  let v1Message: Buffer;

  after(async () => {
    // Best effort: soft delete then permanent delete (needs apicurio.rest.deletion.* enabled).
    for (const s of [keySubject, valueSubject]) {
      await fetch(`${REGISTRY_URL}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' }).catch(() => {});
      await fetch(`${REGISTRY_URL}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' }).catch(() => {});
    }
  });

  test('global compatibility is BACKWARD', async () => {
    const { status, body } = await getJson('/config');
    assert.equal(status, 200);
    assert.equal(body.compatibilityLevel, 'BACKWARD');
  });

  test('registers key and value schemas under <topic>-key / <topic>-value', async () => {
    keyId = (await registry.register(avro(keySchema), { subject: keySubject })).id;
    v1Id = (await registry.register(avro(valueV1), { subject: valueSubject })).id;
    assert.ok(Number.isInteger(keyId) && keyId > 0);
    assert.ok(Number.isInteger(v1Id) && v1Id > 0);
    assert.notEqual(keyId, v1Id);
    const { body: subjects } = await getJson('/subjects');
    assert.ok(subjects.includes(keySubject) && subjects.includes(valueSubject), JSON.stringify(subjects));
    assert.equal(await registry.getLatestSchemaId(valueSubject), v1Id);
    // registering the same schema again is idempotent: same id, no new version
    assert.equal((await registry.register(avro(valueV1), { subject: valueSubject })).id, v1Id);
    assert.deepEqual((await getJson(`/subjects/${valueSubject}/versions`)).body, [1]);
  });

  test('encodes in Confluent wire format and decodes', async () => {
    const value = { id: 7, name: 'seven' };
    v1Message = await registry.encode(v1Id, value);
    assert.equal(v1Message[0], 0, 'magic byte');
    assert.equal(v1Message.readInt32BE(1), v1Id, 'schema id after the magic byte');
    assert.deepEqual(plain(await registry.decode(v1Message)), value);
    const key = await registry.encode(keyId, { id: 7 });
    assert.deepEqual(plain(await registry.decode(key)), { id: 7 });
    await assert.rejects(registry.encode(v1Id, { id: 'not-an-int' }), /invalid payload|id/i);
  });

  test('fetches a schema by id, custom field properties intact', async () => {
    // through the library (fresh client: nothing cached)
    const fresh = new SchemaRegistry({ host: REGISTRY_URL });
    assert.deepEqual(plain(await fresh.decode(v1Message)), { id: 7, name: 'seven' });
    const schema = await fresh.getSchema(v1Id);
    assert.ok(schema);
    // raw: what the registry stores and returns for GET /schemas/ids/{id}
    const { status, body } = await getJson(`/schemas/ids/${v1Id}`);
    assert.equal(status, 200);
    const parsed = JSON.parse(body.schema);
    assert.deepEqual(parsed.fields.map((f: any) => f.pg), valueV1.fields.map((f) => f.pg));
    assert.deepEqual(parsed, valueV1);
  });

  test('accepts a backward-compatible new version (field added with a default)', async () => {
    v2Id = (await registry.register(avro(valueV2), { subject: valueSubject })).id;
    assert.notEqual(v2Id, v1Id);
    assert.equal(await registry.getLatestSchemaId(valueSubject), v2Id);
    assert.deepEqual((await getJson(`/subjects/${valueSubject}/versions`)).body, [1, 2]);
    // a v1 message still decodes; a v2 reader reads it with the default
    assert.deepEqual(plain(await registry.decode(v1Message)), { id: 7, name: 'seven' });
    assert.deepEqual(plain(await registry.decode(v1Message, { [SchemaType.AVRO]: { readerSchema: valueV2 as any } })), { id: 7, name: 'seven', price: null });
    const v2Message = await registry.encode(v2Id, { id: 8, name: null, price: 1.5 });
    assert.deepEqual(plain(await registry.decode(v2Message)), { id: 8, name: null, price: 1.5 });
  });

  test('rejects incompatible schemas with a clear error (HTTP 409)', async () => {
    for (const [what, schema] of [['field type change', valueTypeChange], ['new required field', valueNewRequired]] as const) {
      await assert.rejects(
        registry.register(avro(schema), { subject: valueSubject }),
        (err: any) => {
          assert.match(String(err.message), /incompatible/i, `${what}: ${err.message}`);
          assert.equal(err.status, 409, `${what}: status ${err.status}`);
          return true;
        },
        what,
      );
    }
    assert.deepEqual((await getJson(`/subjects/${valueSubject}/versions`)).body, [1, 2], 'no version was added');
  });
});
