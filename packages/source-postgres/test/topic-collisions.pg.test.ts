/**
 * Against a real PostgreSQL (127.0.0.1:5432, user postgres, database walrelay): the start-up
 * refusal of a publication whose captured tables would share a Kafka topic.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { TopicCollisionError, topicPart } from '@walrelay/core';
import { refuseTopicCollisions } from '../src/tables.js';

const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const S = `walrelay_coll_${run}`;
const q = (n: string): string => `"${n.replace(/"/g, '""')}"`;
let client: pg.Client;

before(async () => {
  client = new pg.Client({ host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: 'postgres', database: 'walrelay' });
  await client.connect();
  await client.query(`CREATE SCHEMA ${q(S)}`);
  await client.query(`CREATE TABLE ${q(S)}."x y" (id int4 PRIMARY KEY)`);
  await client.query(`CREATE TABLE ${q(S)}.${q(topicPart('x y'))} (id int4 PRIMARY KEY)`);
  await client.query(`CREATE TABLE ${q(S)}."p q" (id int4 PRIMARY KEY)`);
  await client.query(`CREATE TABLE ${q(S)}.${q(topicPart('p q'))} (id int4)`); // keyless: not captured
  await client.query(`CREATE PUBLICATION ${q(`${S}_keyed`)} FOR TABLE ${q(S)}."x y", ${q(S)}.${q(topicPart('x y'))}`);
  await client.query(`CREATE PUBLICATION ${q(`${S}_keyless`)} FOR TABLE ${q(S)}."p q", ${q(S)}.${q(topicPart('p q'))}`);
});

after(async () => {
  await client.query(`DROP PUBLICATION IF EXISTS ${q(`${S}_keyed`)}`);
  await client.query(`DROP PUBLICATION IF EXISTS ${q(`${S}_keyless`)}`);
  await client.query(`DROP SCHEMA IF EXISTS ${q(S)} CASCADE`);
  await client.end();
});

test('two captured tables sharing a topic are refused, naming both', async () => {
  await assert.rejects(
    refuseTopicCollisions(client, `${S}_keyed`, 'walrelay'),
    (e: unknown) => e instanceof TopicCollisionError && e.message.includes(`"x y"`) && e.message.includes(topicPart('x y')) && e.message.includes(S),
  );
});

test('a keyless table is not captured, so its topic name does not count', async () => {
  await refuseTopicCollisions(client, `${S}_keyless`, 'walrelay');
});
