// The REST API of parley-server: every endpoint and every error path.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient, http, rawHttp, startServer } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.kill(); });

const postJson = (body, headers = {}) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

function assertApiError(response, status, code) {
  assert.equal(response.status, status, response.text);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.equal(typeof response.json?.error?.message, 'string', response.text);
  assert.equal(response.json.error.code, code, response.text);
}

describe('GET /api/rooms', () => {
  test('lists the default room general with its member count', async () => {
    const r = await http(server, '/api/rooms');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const general = r.json.rooms.find((room) => room.id === 'general');
    assert.deepEqual(general, { id: 'general', name: 'general', members: 0 });
  });
});

describe('POST /api/rooms', () => {
  test('creates a room: 201, the room and its Location; then it is listed and found', async () => {
    const r = await http(server, '/api/rooms', postJson({ name: 'Book club' }));
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.room.name, 'Book club');
    assert.equal(r.json.room.members, 0);
    assert.match(r.json.room.id, /^\S+$/);
    assert.equal(r.headers.get('location'), `/api/rooms/${r.json.room.id}`);

    const list = await http(server, '/api/rooms');
    assert.ok(list.json.rooms.some((room) => room.id === r.json.room.id));
    const one = await http(server, `/api/rooms/${encodeURIComponent(r.json.room.id)}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, { room: r.json.room });
  });

  test('accepts a charset parameter on the content type', async () => {
    const r = await http(server, '/api/rooms',
      postJson({ name: 'Charset room' }, { 'Content-Type': 'application/json; charset=utf-8' }));
    assert.equal(r.status, 201, r.text);
  });

  test('409 room_exists for a name taken in any ASCII case', async () => {
    assert.equal((await http(server, '/api/rooms', postJson({ name: 'Chess' }))).status, 201);
    assertApiError(await http(server, '/api/rooms', postJson({ name: 'CHESS' })), 409, 'room_exists');
  });

  test('400 room_name_invalid for an empty, padded or overlong name', async () => {
    for (const name of ['', '  padded', 'x'.repeat(65), 'tab\there']) {
      assertApiError(await http(server, '/api/rooms', postJson({ name })), 400, 'room_name_invalid');
    }
  });

  test('400 bad_request when name is missing or not a string, or the body is not an object', async () => {
    assertApiError(await http(server, '/api/rooms', postJson({})), 400, 'bad_request');
    assertApiError(await http(server, '/api/rooms', postJson({ name: 42 })), 400, 'bad_request');
    assertApiError(await http(server, '/api/rooms', postJson(['general'])), 400, 'bad_request');
  });

  test('400 bad_json for a body that is not JSON', async () => {
    assertApiError(await http(server, '/api/rooms', postJson('{"name": ')), 400, 'bad_json');
    assertApiError(await http(server, '/api/rooms', postJson('{"name":"a"} trailing')), 400, 'bad_json');
  });

  test('415 for another content type, or none', async () => {
    assertApiError(await http(server, '/api/rooms', {
      method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"name":"x"}',
    }), 415, 'unsupported_media_type');
    assertApiError(await http(server, '/api/rooms', {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'name=x',
    }), 415, 'unsupported_media_type');
    const raw = await rawHttp(server,
      `POST /api/rooms HTTP/1.1\r\nHost: ${server.host}\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"name":"x"}`);
    assert.equal(raw.status, 415);
  });

  test('413 for a body over the limit', async () => {
    const name = 'x'.repeat(10_000);
    assertApiError(await http(server, '/api/rooms', postJson({ name })), 413, 'payload_too_large');
  });

  test('403 when a browser page of another origin posts', async () => {
    assertApiError(await http(server, '/api/rooms',
      postJson({ name: 'Cross site' }, { Origin: 'http://evil.example' })), 403, 'forbidden');
    const same = await http(server, '/api/rooms',
      postJson({ name: 'Same site' }, { Origin: server.url }));
    assert.equal(same.status, 201, same.text);
  });
});

describe('GET /api/rooms/{id}', () => {
  test('404 room_not_found for an unknown id', async () => {
    assertApiError(await http(server, '/api/rooms/no-such-room'), 404, 'room_not_found');
  });

  test('finds general with a percent-encoded id', async () => {
    const r = await http(server, '/api/rooms/%67eneral');
    assert.equal(r.status, 200);
    assert.equal(r.json.room.id, 'general');
  });
});

describe('GET /api/rooms/{id}/messages', () => {
  test('pages the history the room got over the WebSocket', async () => {
    const created = await http(server, '/api/rooms', postJson({ name: 'History room' }));
    const id = created.json.room.id;
    const alice = await ChatClient.login(server, 'rest_alice');
    assert.equal((await alice.request({ type: 'join', room: id })).type, 'joined');
    for (let i = 1; i <= 5; i += 1) {
      alice.send({ type: 'send', room: id, text: `line ${i}` });
      await alice.next((f) => f.type === 'message' && f.text === `line ${i}`);
    }

    const all = await http(server, `/api/rooms/${id}/messages`);
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.room, id);
    assert.equal(all.json.complete, true);
    assert.deepEqual(all.json.messages.map((m) => m.text), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    assert.deepEqual(all.json.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.ok(all.json.messages.every((m) => m.from === 'rest_alice' && typeof m.ts === 'number'));

    const page = await http(server, `/api/rooms/${id}/messages?before=5&limit=2`);
    assert.deepEqual(page.json.messages.map((m) => m.seq), [3, 4]);
    const empty = await http(server, `/api/rooms/${id}/messages?before=1`);
    assert.deepEqual(empty.json.messages, []);
    await alice.close();
  });

  test('400 for a bad before or limit, 404 for an unknown room', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=abc', 'before=0', 'before=-1', 'before=x', 'limit=%zz']) {
      assertApiError(await http(server, `/api/rooms/general/messages?${query}`), 400, 'bad_request');
    }
    assertApiError(await http(server, '/api/rooms/nowhere/messages'), 404, 'room_not_found');
  });
});

describe('GET /api/nicknames/{nick}', () => {
  test('a free nick is available; a taken one is not, in any ASCII case', async () => {
    assert.deepEqual((await http(server, '/api/nicknames/free_nick')).json, { nick: 'free_nick', available: true });
    const carol = await ChatClient.login(server, 'rest_carol');
    const taken = await http(server, '/api/nicknames/REST_CAROL');
    assert.equal(taken.status, 200);
    assert.deepEqual(taken.json, { nick: 'REST_CAROL', available: false });
    await carol.close();
  });

  test('percent-decodes the nick', async () => {
    const r = await http(server, `/api/nicknames/${encodeURIComponent('Zoë')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { nick: 'Zoë', available: true });
  });

  test('400 nick_invalid for a nick with a space or over 24 characters; 400 for a broken escape', async () => {
    assertApiError(await http(server, '/api/nicknames/al%20ice'), 400, 'nick_invalid');
    assertApiError(await http(server, `/api/nicknames/${'n'.repeat(25)}`), 400, 'nick_invalid');
    assertApiError(await http(server, '/api/nicknames/bad%zz'), 400, 'bad_request');
    assertApiError(await http(server, '/api/nicknames/%ff%fe'), 400, 'bad_request');
  });
});

describe('methods and unknown paths', () => {
  test('405 with Allow for a wrong method', async () => {
    const cases = [
      ['/api/rooms', 'DELETE', 'GET, POST'],
      ['/api/rooms/general', 'POST', 'GET'],
      ['/api/rooms/general/messages', 'PUT', 'GET'],
      ['/api/nicknames/x', 'POST', 'GET'],
      ['/api/lobby/events', 'POST', 'GET'],
      ['/healthz', 'POST', 'GET, HEAD'],
      ['/metrics', 'DELETE', 'GET, HEAD'],
    ];
    for (const [path, method, allow] of cases) {
      const r = await http(server, path, { method });
      assertApiError(r, 405, 'method_not_allowed');
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
    }
  });

  test('404 JSON for unknown API paths', async () => {
    for (const path of ['/api', '/api/', '/api/nope', '/api/rooms/general/members', '/api/nicknames']) {
      assertApiError(await http(server, path), 404, 'not_found');
    }
  });

  test('426 for a plain GET of /ws', async () => {
    assertApiError(await http(server, '/ws'), 426, 'upgrade_required');
  });
});
