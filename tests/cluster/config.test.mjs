// REDIS_URL: what a user can get wrong, and the parts of the URL that are used.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { http, member, startNode, startRedis, trackProcesses } from './cluster.mjs';

const track = trackProcesses();

test('a bad REDIS_URL or an unreachable Redis stops start-up with a clear message', async () => {
  await assert.rejects(startNode({ url: 'http://nope' }), /REDIS_URL "http:\/\/nope": must start with redis:\/\//);
  await assert.rejects(startNode({ url: 'redis://127.0.0.1:99999' }), /port out of range/);
  await assert.rejects(startNode({ url: 'redis://127.0.0.1:1' }), /redis:\/\/127\.0\.0\.1:1: cannot reach Redis/);
});

test('the password and database number of REDIS_URL are used', async () => {
  const redis = await track(startRedis(undefined, ['--requirepass', 's3cret']));
  const url = `redis://:s3cret@127.0.0.1:${redis.port}/2`;
  const a = await track(startNode({ url }));
  const b = await track(startNode({ url }));
  const alice = await member(a, 'alice');
  const bob = await member(b, 'bob');
  alice.send({ type: 'send', room: 'general', text: 'through an authenticated Redis' });
  await bob.next((f) => f.type === 'message' && f.text === 'through an authenticated Redis');
  assert.equal((await http(a, '/healthz')).json.redis, 'up');
  const wrong = await startNode({ url: `redis://:wrong@127.0.0.1:${redis.port}` }).catch((e) => e);
  assert.match(String(wrong), /AUTH|WRONGPASS|invalid/i);
  await alice.close();
  await bob.close();
});
