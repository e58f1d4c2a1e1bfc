// /ws through the real server: the protocol round trips, the handshake's
// Origin and path checks, and the frame-level closes (1009, also while the client
// is still sending a 4 MiB frame; 1007).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ChatClient, handshakeStatus, http, startServer } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.kill(); });

describe('handshake', () => {
  test('a client without Origin (not a browser) and a same-origin page may connect', async () => {
    assert.equal((await handshakeStatus(server)).status, 101);
    assert.equal((await handshakeStatus(server, { origin: server.url })).status, 101);
    assert.equal((await handshakeStatus(server, { origin: server.url.toUpperCase() })).status, 101);
  });

  test('another origin is refused with 403 before the upgrade', async () => {
    const port = new URL(server.url).port;
    for (const origin of ['http://evil.example', `http://localhost:${port}`, 'http://127.0.0.1', 'null',
      `https://127.0.0.1:${port}.evil.example`]) {
      const r = await handshakeStatus(server, { origin });
      assert.equal(r.status, 403, origin);
      assert.equal(JSON.parse(r.body).error.code, 'forbidden');
    }
    assert.match(server.stderr(), /refused a WebSocket from origin http:\/\/evil\.example/);
  });

  test('ALLOWED_ORIGINS lists who may connect; * lets anyone in with a warning', async () => {
    const listed = await startServer({ env: { ALLOWED_ORIGINS: 'https://chat.example.com, http://app.example:8443' } });
    try {
      assert.equal((await handshakeStatus(listed, { origin: 'https://chat.example.com' })).status, 101);
      assert.equal((await handshakeStatus(listed, { origin: 'http://app.example:8443' })).status, 101);
      assert.equal((await handshakeStatus(listed, { origin: 'https://evil.example' })).status, 403);
      // Listing origins replaces same-origin.
      assert.equal((await handshakeStatus(listed, { origin: listed.url })).status, 403);
    } finally {
      await listed.kill();
    }
    const any = await startServer({ args: ['--allowed-origins', '*'] });
    try {
      assert.equal((await handshakeStatus(any, { origin: 'https://anything.example' })).status, 101);
      assert.match(any.stderr(), /warning: ALLOWED_ORIGINS=\*/);
    } finally {
      await any.kill();
    }
  });

  test('a WebSocket on another path is refused with 404', async () => {
    assert.equal((await handshakeStatus(server, { path: '/chat' })).status, 404);
    assert.equal((await handshakeStatus(server, { path: '/' })).status, 404);
  });
});

describe('protocol round trips', () => {
  let alice;
  let bob;
  before(async () => {
    alice = await ChatClient.login(server, 'ws_alice');
    bob = await ChatClient.login(server, 'ws_bob');
  });
  after(async () => {
    await alice?.close();
    await bob?.close();
  });

  test('hello gets welcome with a session, a token, protocol 1 and the limits', () => {
    const w = alice.welcome;
    assert.equal(w.nick, 'ws_alice');
    assert.equal(w.protocol, 1);
    assert.equal(typeof w.session, 'string');
    assert.equal(typeof w.token, 'string');
    assert.equal(w.limits.max_frame_bytes, 16384);
  });

  test('errors: not_identified, already_identified, nick_taken, unknown_type, bad_json', async () => {
    const anon = await ChatClient.connect(server);
    assert.equal((await anon.request({ type: 'join', room: 'general' })).code, 'not_identified');
    assert.equal((await anon.request({ type: 'hello', nick: 'WS_ALICE' })).code, 'nick_taken');
    assert.equal((await anon.request({ type: 'frobnicate' })).code, 'unknown_type');
    anon.socket.send('{not json');
    const bad = await anon.next((f) => f.type === 'error');
    assert.equal(bad.code, 'bad_json');
    assert.equal((await anon.request({ type: 'ping' })).type, 'pong');
    assert.equal((await alice.request({ type: 'hello', nick: 'again' })).code, 'already_identified');
    await anon.close();
  });

  test('join, presence, send both ways, typing, history, delete', async () => {
    const joinedA = await alice.request({ type: 'join', room: 'general' });
    assert.equal(joinedA.type, 'joined');
    assert.deepEqual(joinedA.room, { id: 'general', name: 'general' });
    assert.ok(joinedA.members.includes('ws_alice'));
    assert.equal(typeof joinedA.epoch, 'string');

    const joinedB = await bob.request({ type: 'join', room: 'general' });
    assert.deepEqual([...joinedB.members].sort(), ['ws_alice', 'ws_bob']);
    const presence = await alice.next((f) => f.type === 'presence' && f.nick === 'ws_bob');
    assert.deepEqual(presence, { type: 'presence', room: 'general', event: 'join', nick: 'ws_bob' });

    alice.send({ type: 'send', room: 'general', text: 'hi bob', client_id: 'c1' });
    const atBob = await bob.next((f) => f.type === 'message' && f.text === 'hi bob');
    const atAlice = await alice.next((f) => f.type === 'message' && f.text === 'hi bob');
    assert.deepEqual(atBob, atAlice, 'every member gets the same frame');
    assert.equal(atBob.from, 'ws_alice');
    assert.equal(atBob.client_id, 'c1');

    bob.send({ type: 'send', room: 'general', text: 'hello alice ✓' });
    const reply = await alice.next((f) => f.type === 'message' && f.from === 'ws_bob');
    assert.equal(reply.text, 'hello alice ✓');
    assert.equal(reply.seq, atBob.seq + 1);

    bob.send({ type: 'typing', room: 'general', active: true });
    assert.deepEqual(await alice.next((f) => f.type === 'typing'),
      { type: 'typing', room: 'general', nick: 'ws_bob', active: true });

    const history = await alice.request({ type: 'history', room: 'general', limit: 2 });
    assert.equal(history.type, 'history');
    assert.deepEqual(history.messages.map((m) => m.seq), [atBob.seq, reply.seq]);

    assert.equal((await bob.request({ type: 'delete', room: 'general', seq: atBob.seq })).code, 'forbidden');
    alice.send({ type: 'delete', room: 'general', seq: atBob.seq });
    assert.deepEqual(await bob.next((f) => f.type === 'deleted'), { type: 'deleted', room: 'general', seq: atBob.seq });
    const after = await alice.request({ type: 'history', room: 'general', limit: 2 });
    assert.equal(after.messages[0].deleted, true);
    assert.equal(after.messages[0].text, undefined);

    assert.equal((await alice.request({ type: 'send', room: 'general', text: '   ' })).code, 'text_empty');
    assert.equal((await alice.request({ type: 'send', room: 'nowhere', text: 'x' })).code, 'not_in_room');
    assert.equal((await alice.request({ type: 'join', room: 'nowhere' })).code, 'room_not_found');

    assert.equal((await bob.request({ type: 'leave', room: 'general' })).type, 'left');
    assert.deepEqual(await alice.next((f) => f.type === 'presence' && f.event === 'leave'),
      { type: 'presence', room: 'general', event: 'leave', nick: 'ws_bob' });
  });

  test('dm reaches the recipient and the sender; an unknown user is an error', async () => {
    alice.send({ type: 'dm', to: 'WS_BOB', text: 'psst', client_id: 'd1' });
    const atBob = await bob.next((f) => f.type === 'dm');
    const atAlice = await alice.next((f) => f.type === 'dm');
    assert.deepEqual(atBob, atAlice);
    assert.equal(atBob.from, 'ws_alice');
    assert.equal(atBob.to, 'ws_bob');
    assert.equal(atBob.text, 'psst');
    assert.equal((await alice.request({ type: 'dm', to: 'nobody_here', text: 'x' })).code, 'user_not_found');
  });

  test('rooms, create_room and watch_lobby see each other', async () => {
    const watch = await bob.request({ type: 'watch_lobby' });
    assert.equal(watch.type, 'rooms');
    const created = await alice.request({ type: 'create_room', name: 'WS room' });
    assert.equal(created.type, 'room_created');
    const update = await bob.next((f) => f.type === 'room_update' && f.room.id === created.room.id);
    assert.equal(update.room.name, 'WS room');
    assert.equal((await alice.request({ type: 'create_room', name: 'ws ROOM' })).code, 'room_exists');
    const rooms = await alice.request({ type: 'rooms' });
    assert.ok(rooms.rooms.some((r) => r.id === created.room.id));
  });

  test('a disconnect is a leave for the others', async () => {
    const carol = await ChatClient.login(server, 'ws_carol');
    await carol.request({ type: 'join', room: 'general' });
    await alice.next((f) => f.type === 'presence' && f.nick === 'ws_carol' && f.event === 'join');
    carol.socket.terminate();
    await alice.next((f) => f.type === 'presence' && f.nick === 'ws_carol' && f.event === 'leave');
  });
});

describe('frame-level closes', () => {
  test('a frame over 16 KiB is closed with 1009', async () => {
    const client = await ChatClient.login(server, 'ws_big');
    client.socket.send(JSON.stringify({ type: 'send', room: 'general', text: 'x'.repeat(17_000) }));
    const { code } = await client.closed;
    assert.equal(code, 1009);
  });

  test('a 4 MiB frame still being sent gets the 1009 close too, not a reset (1006)', async () => {
    const client = await ChatClient.login(server, 'ws_huge');
    client.socket.on('error', () => {});  // a reset would show here, and as 1006 below
    client.socket.send(JSON.stringify({ type: 'send', room: 'general', text: 'x'.repeat(4 * 1024 * 1024) }));
    const { code } = await client.closed;
    assert.equal(code, 1009);
  });

  test('invalid UTF-8 in a text frame is closed with 1007', async () => {
    const client = await ChatClient.login(server, 'ws_utf8');
    client.socket.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const { code } = await client.closed;
    assert.equal(code, 1007);
  });

  test('those closes are counted in /metrics', async () => {
    const metrics = await http(server, '/metrics');
    const closes = Number(metrics.text.match(/^parley_protocol_closes_total (\d+)$/m)[1]);
    assert.ok(closes >= 2, metrics.text);
  });

  test('control frames flow: a ping from the client is answered with a pong', async () => {
    const socket = new WebSocket(server.wsUrl);
    await new Promise((resolve) => socket.once('open', resolve));
    const pong = new Promise((resolve) => socket.once('pong', resolve));
    socket.ping('x');
    assert.equal((await pong).toString(), 'x');
    socket.close();
  });
});
