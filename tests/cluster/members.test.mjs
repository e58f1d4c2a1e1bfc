// Cluster-wide member lists: a joiner's `joined` members hold every node's
// members, and a node that leaves (cleanly or by kill -9) takes its members along.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, http, member, redisCommand, sleep, startNode, startProxy, startRedis, trackProcesses } from './cluster.mjs';

const track = trackProcesses();

const HASH = 'parley:{room:general}:members';
const hashSize = async (redis) => Number((await redisCommand(redis.port, 'HLEN', HASH)).replace(/^:/, ''));
const left = (client, nick) => (f) => f.type === 'presence' && f.event === 'leave' && f.nick === nick;

describe('member lists across nodes', () => {
  test('a joiner on B is told the members on A; leaves and renames there follow', async () => {
    const redis = await track(startRedis());
    const a = await track(startNode(redis, { name: 'list-a' }));
    const b = await track(startNode(redis, { name: 'list-b' }));
    const alice = await member(a, 'alice');
    const kim = await member(a, 'kim');
    const bob = await member(b, 'bob');
    assert.deepEqual([...bob.joined.members].sort(), ['alice', 'bob', 'kim']);
    await alice.next((f) => f.type === 'presence' && f.event === 'join' && f.nick === 'bob');
    assert.equal(await hashSize(redis), 3);

    alice.send({ type: 'leave', room: 'general' });
    await bob.next(left(bob, 'alice'));
    kim.send({ type: 'nick', nick: 'kimberly' });
    await bob.next((f) => f.type === 'nick_changed' && f.room === 'general' && f.old === 'kim' && f.nick === 'kimberly');

    const dave = await member(b, 'dave');
    assert.deepEqual([...dave.joined.members].sort(), ['bob', 'dave', 'kimberly']);
    // Dave's listing is written after his `joined` goes out (nothing orders the two):
    // unlike bob's above, which alice's presence event proved written.
    await eventually(async () => (await hashSize(redis)) === 3);
    for (const c of [alice, kim, bob, dave]) await c.close();
    await eventually(async () => (await hashSize(redis)) === 0);
  });

  test('kill -9 a node: within the TTL its members leave the list on the others', async () => {
    const redis = await track(startRedis());
    const ttlMs = 2000;
    const a = await track(startNode(redis, { ttl: '2s', name: 'doomed' }));
    const b = await track(startNode(redis, { ttl: '2s', name: 'survivor' }));
    await member(a, 'alice');
    const bob = await member(b, 'bob');
    assert.deepEqual([...bob.joined.members].sort(), ['alice', 'bob']);

    const killedAt = Date.now();
    await a.stop('SIGKILL');
    await bob.next(left(bob, 'alice'), 3 * ttlMs + 3000);
    const took = Date.now() - killedAt;
    // Dropped on the survivor's tick (every ttl/6) once `ttl` passed without a
    // heartbeat, which may itself be ttl/3 old; 3 s for a busy 2-core machine.
    const bound = ttlMs + ttlMs / 3 + 3000;
    assert.ok(took <= bound, `left after ${took} ms (TTL ${ttlMs} ms, bound ${bound} ms)`);

    const dave = await member(b, 'dave');
    assert.deepEqual([...dave.joined.members].sort(), ['bob', 'dave']);
    await eventually(async () => (await hashSize(redis)) === 2);  // the survivor dropped alice's entry
    await bob.close();
    await dave.close();
  });

  test('changes missed while a node\'s subscriber was away are told once it is back (re-read)', async () => {
    const redis = await track(startRedis());
    const proxy = await track(startProxy(redis.port));
    const a = await track(startNode({ url: proxy.url }, { name: 'cut-off' }));
    const b = await track(startNode(redis, { name: 'linked' }));
    const alice = await member(a, 'alice');
    const bob = await member(b, 'bob');
    await alice.next((f) => f.type === 'presence' && f.event === 'join' && f.nick === 'bob');

    proxy.refuse();
    proxy.cutSubscribers();
    await eventually(() => /subscriber: connection lost|subscriber: disconnected/.test(a.stderr()), 5000);
    const carol = await member(b, 'carol');
    bob.send({ type: 'leave', room: 'general' });
    await carol.next(left(carol, 'bob'));
    await sleep(200);
    assert.ok(!alice.frames.some((f) => f.type === 'presence' && f.nick === 'carol'), 'missed while cut off');

    await proxy.accept();
    await eventually(async () => (await http(a, '/healthz')).status === 200);
    await alice.next(left(alice, 'bob'));
    await alice.next((f) => f.type === 'presence' && f.event === 'join' && f.nick === 'carol');
    const dave = await member(a, 'dave');
    assert.deepEqual([...dave.joined.members].sort(), ['alice', 'carol', 'dave']);
    for (const c of [alice, bob, carol, dave]) await c.close();
  });

  test('a node stopping cleanly takes its members out at once, not after the TTL', async () => {
    const redis = await track(startRedis());
    const a = await track(startNode(redis, { ttl: '20s', name: 'leaving' }));
    const b = await track(startNode(redis, { ttl: '20s', name: 'staying' }));
    await member(a, 'alice');
    const bob = await member(b, 'bob');
    assert.deepEqual([...bob.joined.members].sort(), ['alice', 'bob']);

    const stoppedAt = Date.now();
    const stopped = a.stop('SIGTERM');
    await bob.next(left(bob, 'alice'), 8000);
    assert.ok(Date.now() - stoppedAt < 8000, 'well before the 20 s TTL');
    assert.equal((await stopped).code, 0);
    assert.equal(await hashSize(redis), 1);
    const dave = await member(b, 'dave');
    assert.deepEqual([...dave.joined.members].sort(), ['bob', 'dave']);
    await bob.close();
    await dave.close();
  });
});
