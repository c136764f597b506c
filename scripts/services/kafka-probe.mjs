// Readiness probe for the Kafka broker used by scripts/services.sh.
// A real request, not just an open port: a Metadata request (admin.listTopics) and a
// DescribeCluster-equivalent (admin.describeCluster) through kafkajs, the product's client.
// Usage: node scripts/services/kafka-probe.mjs [broker]   exit 0 = ready, 1 = not ready.
import { Kafka, logLevel } from 'kafkajs';

const broker = process.argv[2] ?? process.env.WALRELAY_KAFKA_BROKERS ?? '127.0.0.1:9092';
const kafka = new Kafka({
  clientId: 'walrelay-services-probe',
  brokers: broker.split(','),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2000,
  requestTimeout: 5000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  const topics = await admin.listTopics();
  if (cluster.controller == null || cluster.brokers.length === 0) throw new Error('no controller/brokers in metadata');
  process.stdout.write(`cluster ${cluster.clusterId}, brokers ${cluster.brokers.length}, controller ${cluster.controller}, topics ${topics.length}\n`);
  await admin.disconnect();
  process.exit(0);
} catch (err) {
  process.stderr.write(`kafka not ready at ${broker}: ${err?.message ?? err}\n`);
  await admin.disconnect().catch(() => {});
  process.exit(1);
}
