// The cluster directory: nickname look-ups over HTTP, room names unique across
// nodes, and direct messages to a nickname in reconnect grace on another node.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, eventually, http, metric, redisCommand, rooms, startNode, startRedis, trackProcesses } from './cluster.mjs';

const track = trackProcesses();

async function twoNodes() {
  const redis = await track(startRedis());
  const a = await track(startNode(redis, { name: 'dir-a' }));
  const b = await track(startNode(redis, { name: 'dir-b' }));
  return { redis, a, b };
}

describe('nickname look-ups', () => {
  test('a nickname held on A reads as taken through B\'s HTTP API', async () => {
    const { a, b } = await twoNodes();
    const kim = await ChatClient.login(a, 'Kim');
    const taken = await http(b, '/api/nicknames/kim');
    assert.equal(taken.status, 200);
    assert.deepEqual(taken.json, { nick: 'kim', available: false });
    assert.equal((await http(b, '/api/nicknames/nobody')).json.available, true);

    await kim.close(1000);  // a clean close frees it cluster-wide
    await eventually(async () => (await http(b, '/api/nicknames/kim')).json.available === true);
  });

  test('with Redis stopped the look-up answers 503 unavailable, never a wrong "free"', async () => {
    const { redis, b } = await twoNodes();
    await redis.stop();
    await eventually(async () => (await http(b, '/healthz')).status !== 200);
    const answer = await http(b, '/api/nicknames/anyone');
    assert.equal(answer.status, 503);
    assert.equal(answer.json.error.code, 'unavailable');
    const create = await http(b, '/api/rooms', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'offline' }),
    });
    assert.equal(create.status, 503);
    assert.equal(create.json.error.code, 'unavailable');
  });
});

describe('room names', () => {
  test('a name created on A is refused on B with room_exists, and claimed in Redis for A\'s room', async () => {
    const { redis, a, b } = await twoNodes();
    const alice = await ChatClient.login(a, 'alice');
    const bob = await ChatClient.login(b, 'bob');
    const created = await alice.request({ type: 'create_room', name: 'Lounge' });
    assert.equal(created.type, 'room_created');
    const refused = await bob.request({ type: 'create_room', name: 'lounge' });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'room_exists');
    assert.equal(await redisCommand(redis.port, 'GET', 'parley:roomname:lounge'), `$${created.room.id.length}\r\n${created.room.id}`);
    // The permanent general room is on both nodes: no conflict with itself.
    assert.equal((await alice.request({ type: 'join', room: 'general' })).type, 'joined');
    assert.equal((await bob.request({ type: 'join', room: 'general' })).type, 'joined');
    assert.equal((await bob.request({ type: 'create_room', name: 'General' })).code, 'room_exists');
    await alice.close();
    await bob.close();
  });

  test('the same names created on A and B at once give one room each', async () => {
    const { a, b } = await twoNodes();
    const names = ['Race1', 'Race2', 'Race3', 'Race4', 'Race5', 'Race6', 'Race7', 'Race8'];
    // One session per request (a session's requests are answered one at a time),
    // all sent before any answer: a node has not heard of the other's room yet.
    const clients = await Promise.all(names.flatMap((name, i) => [
      ChatClient.login(a, `a${i}`), ChatClient.login(b, `b${i}`),
    ]));
    const replies = await Promise.all(names.flatMap((name, i) => [
      clients[2 * i].request({ type: 'create_room', name }),
      clients[2 * i + 1].request({ type: 'create_room', name: name.toLowerCase() }),
    ]));
    for (let i = 0; i < names.length; ++i) {
      const pair = replies.slice(2 * i, 2 * i + 2).map((r) => r.type === 'error' ? r.code : r.type).sort();
      assert.deepEqual(pair, ['room_created', 'room_exists'], names[i]);
    }
    for (const node of [a, b]) {
      await eventually(async () => (await rooms(node)).filter((r) => r.name.toLowerCase().startsWith('race')).length === names.length);
    }
    await Promise.all(clients.map((c) => c.close()));
  });
});

/** Sends a DM; resolves with the error refusing it, or the sender's own copy. */
let dmCount = 0;
async function dm(client, to, text) {
  const id = `dm${++dmCount}`;
  client.send({ type: 'dm', to, text, client_id: id, ref: id });
  return client.next((f) => (f.type === 'error' && f.ref === id) || (f.type === 'dm' && f.client_id === id));
}

describe('direct messages', () => {
  test('a DM from B to a nickname in reconnect grace on A answers as on a single node', async () => {
    const { a, b } = await twoNodes();
    const alice = await ChatClient.login(a, 'alice');
    const carol = await ChatClient.login(b, 'carol');
    const bob = await ChatClient.login(b, 'bob');
    // Both dropped without a close frame: their names wait for their tokens.
    alice.socket.terminate();
    carol.socket.terminate();
    for (const node of [a, b]) {
      await eventually(async () => metric((await http(node, '/metrics')).text, 'parley_identified_sessions') === (node === a ? 0 : 1));
    }
    const probe = await ChatClient.connect(b);
    assert.equal((await probe.request({ type: 'hello', nick: 'alice' })).code, 'nick_taken');  // still reserved

    const sameNode = await dm(bob, 'carol', 'same node');
    assert.equal(sameNode.type, 'error');
    // The mark that alice left reaches Redis a moment after her session ended on A.
    let otherNode;
    await eventually(async () => {
      otherNode = await dm(bob, 'alice', 'other node');
      return otherNode.type === 'error';
    }, 3000, 100);
    assert.equal(otherNode.code, sameNode.code);

    // Back with her token (on B this time): reachable again.
    const back = await ChatClient.connect(b);
    back.send({ type: 'hello', nick: 'alice', token: alice.welcome.token });
    assert.equal((await back.next((f) => f.type === 'welcome' || f.type === 'error')).type, 'welcome');
    assert.equal((await dm(bob, 'alice', 'welcome back')).type, 'dm');
    await back.next((f) => f.type === 'dm' && f.text === 'welcome back');
    await probe.close();
    await back.close();
    await bob.close();
  });
});
