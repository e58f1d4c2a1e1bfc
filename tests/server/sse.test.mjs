// GET /api/lobby/events: the lobby as Server-Sent Events.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ChatClient, EventStream, eventually, http, metric, startServer } from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.kill(); });

describe('lobby events', () => {
  test('the stream is text/event-stream and starts with a rooms snapshot', async () => {
    const stream = new EventStream(server);
    await stream.ready;
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(stream.headers.get('cache-control'), 'no-store');
    const first = await stream.next();
    assert.equal(first.event, 'rooms');
    assert.equal(first.data.type, 'rooms');
    assert.ok(first.data.rooms.some((r) => r.id === 'general'));
    stream.close();
  });

  test('sees a room created over REST, and member counts as WebSocket clients join and leave', async () => {
    const stream = new EventStream(server);
    await stream.next((e) => e.event === 'rooms');

    const created = await http(server, '/api/rooms', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'SSE room' }),
    });
    assert.equal(created.status, 201);
    const id = created.json.room.id;
    const appeared = await stream.next((e) => e.event === 'room_update' && e.data.room.id === id);
    assert.deepEqual(appeared.data, { type: 'room_update', room: { id, name: 'SSE room', members: 0 } });

    const dave = await ChatClient.login(server, 'sse_dave');
    const erin = await ChatClient.login(server, 'sse_erin');
    await dave.request({ type: 'join', room: id });
    await stream.next((e) => e.event === 'room_update' && e.data.room.id === id && e.data.room.members === 1);
    await erin.request({ type: 'join', room: id });
    await stream.next((e) => e.event === 'room_update' && e.data.room.id === id && e.data.room.members === 2);
    await erin.request({ type: 'leave', room: id });
    await stream.next((e) => e.event === 'room_update' && e.data.room.id === id && e.data.room.members === 1);
    await dave.close();
    await stream.next((e) => e.event === 'room_update' && e.data.room.id === id && e.data.room.members === 0);
    await erin.close();
    stream.close();
  });

  test('several streams each get every event', async () => {
    const streams = [new EventStream(server), new EventStream(server), new EventStream(server)];
    await Promise.all(streams.map((s) => s.next((e) => e.event === 'rooms')));
    const created = await http(server, '/api/rooms', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Fan out' }),
    });
    await Promise.all(streams.map((s) => s.next((e) => e.event === 'room_update' && e.data.room.id === created.json.room.id)));
    streams.forEach((s) => s.close());
  });

  test('a client that goes away is noticed and its stream ends', async () => {
    const base = metric((await http(server, '/metrics')).text, 'parley_server_sse_streams');
    const streams = [new EventStream(server), new EventStream(server)];
    await Promise.all(streams.map((s) => s.next((e) => e.event === 'rooms')));
    await eventually(async () =>
      metric((await http(server, '/metrics')).text, 'parley_server_sse_streams') === base + 2);
    streams.forEach((s) => s.close());
    await eventually(async () =>
      metric((await http(server, '/metrics')).text, 'parley_server_sse_streams') === base);
  });

  test('a raw request sees the event-stream head and the snapshot event', async () => {
    const { hostname, port } = new URL(server.url);
    const text = await new Promise((resolve, reject) => {
      const socket = net.connect({ host: hostname, port: Number(port) }, () => {
        socket.write(`GET /api/lobby/events HTTP/1.1\r\nHost: ${server.host}\r\n\r\n`);
      });
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk) => {
        got += chunk;
        if (got.includes('event: rooms\ndata: ')) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      setTimeout(() => reject(new Error(`no snapshot: ${got}`)), 5000);
    });
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nContent-Type: text\/event-stream; charset=utf-8\r\n/);
    assert.match(text, /\r\n\r\nretry: \d+\n\n/);
  });
});
