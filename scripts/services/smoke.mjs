// Outside the test suite: proves by hand that the local services answer a client the way
// walrelay's users' tools do. Produces a record to a fresh topic and consumes it back, and
// registers, encodes and decodes an Avro record through the registry's Confluent API.
// Usage: npm run services:smoke   (exit 0 = all good)
import { Kafka, logLevel } from 'kafkajs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';

const brokers = (process.env.WALRELAY_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.WALRELAY_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const id = `walrelay-smoke-${Date.now().toString(36)}`;
const kafka = new Kafka({ clientId: 'walrelay-smoke', brokers, logLevel: logLevel.NOTHING });
const registry = new SchemaRegistry({ host: registryUrl });

const schema = { type: 'record', name: 'Smoke', namespace: 'io.walrelay', fields: [{ name: 'id', type: 'long' }, { name: 'note', type: 'string' }] };
const { id: schemaId } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${id}-value` });
const encoded = await registry.encode(schemaId, { id: 42, note: 'hello' });
console.log(`registry: registered ${id}-value as schema id ${schemaId}, encoded ${encoded.length} bytes (magic ${encoded[0]})`);

const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ waitForLeaders: true, topics: [{ topic: id, numPartitions: 1 }] });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
await producer.send({ topic: id, acks: -1, messages: [{ key: 'k', value: encoded }] });
console.log(`kafka: produced one record to ${id}`);

const consumer = kafka.consumer({ groupId: id });
await consumer.connect();
await consumer.subscribe({ topics: [id], fromBeginning: true });
const decoded = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no record consumed within 30 s')), 30_000);
  consumer.run({
    eachMessage: async ({ message }) => {
      clearTimeout(timer);
      resolve(await registry.decode(message.value));
    },
  });
});
console.log(`kafka: consumed it back in group ${id}; registry: decoded ${JSON.stringify(decoded)}`);
const ok = decoded.id === 42 && decoded.note === 'hello';
await consumer.disconnect();
await producer.disconnect();
await admin.deleteTopics({ topics: [id] }).catch(() => undefined);
await admin.disconnect();
console.log(ok ? 'services smoke test: OK' : 'services smoke test: decoded value differs');
process.exit(ok ? 0 : 1);
