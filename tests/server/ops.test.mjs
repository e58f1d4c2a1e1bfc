// Operations: /healthz, /metrics, --help and bad configuration, and the
// graceful shutdown on SIGTERM / SIGINT.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import {
  ChatClient, EventStream, eventually, handshakeStatus, http, metric, serverBinary, startServer,
} from './harness.mjs';

describe('health and metrics', () => {
  test('/healthz answers ok; /metrics has the counters in Prometheus text', async (t) => {
    const server = await startServer();
    t.after(() => server.kill());
    const health = await http(server, '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok', store: 'memory' });

    const alice = await ChatClient.login(server, 'ops_alice');
    await alice.request({ type: 'join', room: 'general' });
    alice.send({ type: 'send', room: 'general', text: 'counted' });
    await alice.next((f) => f.type === 'message');
    await alice.request({ type: 'join', room: 'nowhere' });

    const r = await http(server, '/metrics');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = r.text;
    for (const name of ['parley_connections_opened_total', 'parley_connections_closed_total',
      'parley_connections_active', 'parley_rooms', 'parley_messages_in_total', 'parley_messages_out_total',
      'parley_frames_in_total', 'parley_frames_out_total', 'parley_bytes_in_total', 'parley_bytes_out_total',
      'parley_rate_limited_total', 'parley_slow_consumer_closes_total', 'parley_policy_closes_total',
      'parley_protocol_closes_total', 'parley_server_websocket_connections', 'parley_server_sse_streams']) {
      assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'), name);
      assert.ok(Number.isInteger(metric(text, name)), name);
    }
    assert.equal(metric(text, 'parley_connections_active'), 1);
    assert.ok(metric(text, 'parley_messages_in_total') >= 1);
    assert.ok(metric(text, 'parley_rooms') >= 1);
    assert.equal(metric(text, 'parley_server_websocket_connections'), 1);
    assert.match(text, /^parley_errors_total\{code="room_not_found"\} 1$/m);
    assert.match(text, /^parley_errors_total\{code="bad_json"\} 0$/m);
    await alice.close();
  });
});

describe('configuration', () => {
  test('--help prints the options and exits 0', () => {
    const r = spawnSync(serverBinary(), ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const word of ['--port', '--host', '--shutdown-timeout', '--allowed-origins', '--threads', '--web-root',
      'PORT', 'SHUTDOWN_TIMEOUT', 'ALLOWED_ORIGINS', '--db', 'PARLEY_DB', '--flush-interval', '--keep-messages',
      '--keep-for', '--db-max-bytes', 'Durability', '--rate-per-second', '--rate-burst', 'RATE_PER_SECOND',
      'RATE_BURST']) {
      assert.ok(r.stdout.includes(word), word);
    }
  });

  test('a bad value or an unknown option exits 2 with a message', () => {
    for (const args of [['--port', 'http'], ['--port', '70000'], ['--shutdown-timeout', '5w'], ['--db', ''], ['--flush-interval', '1s'], ['--frobnicate'],
      ['--allowed-origins', 'example.com'], ['--threads', '0'], ['--rate-per-second', '0'],
      ['--rate-burst', 'many']]) {
      const r = spawnSync(serverBinary(), args, {
        encoding: 'utf8', timeout: 5000, env: { ...process.env, PARLEY_DB: ':memory:' },
      });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^parley-server: /);
    }
    const env = spawnSync(serverBinary(), [], { encoding: 'utf8', timeout: 5000, env: { ...process.env, PORT: 'x' } });
    assert.equal(env.status, 2);
  });

  test('--rate-per-second and --rate-burst raise the per-connection request limit', async (t) => {
    // 40 pings at once: over the default burst of 20, within a burst of 100.
    const pings = async (server) => {
      const client = await ChatClient.connect(server);
      const replies = await Promise.all(Array.from({ length: 40 }, () => client.request({ type: 'ping' })));
      client.socket.close();
      return replies.filter((f) => f.code === 'rate_limited').length;
    };
    const strict = await startServer();
    t.after(() => strict.kill());
    assert.ok(await pings(strict) > 0);
    const raised = await startServer({ args: ['--rate-per-second', '1000', '--rate-burst', '100'] });
    t.after(() => raised.kill());
    assert.equal(await pings(raised), 0);
  });

  test('PORT from the environment is used, and a flag wins over it', async (t) => {
    const server = await startServer({ env: { PORT: '1' } });  // --port 0 from the harness wins
    t.after(() => server.kill());
    assert.notEqual(new URL(server.url).port, '1');
  });
});

/** Opens a WebSocket by hand and then neither reads on nor answers the close. */
function deafClient(server) {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => {
      socket.write(`GET /ws HTTP/1.1\r\nHost: ${server.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    let got = '';
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      if (got.startsWith('HTTP/1.1 101')) {
        socket.removeAllListeners('data');
        socket.pause();
        resolve(socket);
      }
    });
    socket.on('error', reject);
  });
}

/** Waits until the server has run its open handler for `n` WebSocket connections. */
async function connectionsOpen(server, n) {
  await eventually(async () =>
    metric((await http(server, '/metrics')).text, 'parley_server_websocket_connections') === n);
}

describe('graceful shutdown', () => {
  test('SIGTERM: every client gets shutdown then close 1001, SSE ends, exit 0 in time', async (t) => {
    const server = await startServer();
    t.after(() => server.kill());
    const clients = await Promise.all(['sd_a', 'sd_b', 'sd_c'].map((n) => ChatClient.login(server, n)));
    await Promise.all(clients.map((c) => c.request({ type: 'join', room: 'general' })));
    const idle = await ChatClient.connect(server);  // connected, never said hello
    const stream = new EventStream(server);
    await stream.next((e) => e.event === 'rooms');
    await connectionsOpen(server, 4);

    const stopped = server.stop('SIGTERM');
    for (const client of [...clients, idle]) {
      const { code } = await client.closed;
      assert.equal(code, 1001);
      const shutdown = client.frames.find((f) => f.type === 'shutdown');
      assert.ok(shutdown, `shutdown frame before the close: ${JSON.stringify(client.frames)}`);
      assert.equal(typeof shutdown.reason, 'string');
      assert.equal(client.frames.at(-1), shutdown, 'shutdown is the last frame');
    }
    await stream.done;
    const { code, signal, ms } = await stopped;
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr());
    assert.ok(ms < 5000, `exited after ${ms} ms`);
    assert.match(server.stderr(), /SIGTERM: shutting down/);
    assert.doesNotMatch(server.stderr(), /forced/);
  });

  test('SIGINT on an idle server exits 0 at once', async () => {
    const server = await startServer();
    const { code, ms } = await server.stop('SIGINT');
    assert.equal(code, 0, server.stderr());
    assert.ok(ms < 2000, `exited after ${ms} ms`);
  });

  test('a client that never answers the close is cut at SHUTDOWN_TIMEOUT and the exit is still 0', async (t) => {
    const server = await startServer({ env: { SHUTDOWN_TIMEOUT: '1s' } });
    t.after(() => server.kill());
    const deaf = await deafClient(server);
    t.after(() => deaf.destroy());
    const polite = await ChatClient.login(server, 'sd_polite');
    await connectionsOpen(server, 2);
    const stopped = server.stop('SIGTERM');
    assert.equal((await polite.closed).code, 1001);
    const { code, ms } = await stopped;
    assert.equal(code, 0, server.stderr());
    assert.ok(ms >= 900 && ms < 4000, `exited after ${ms} ms`);
    assert.match(server.stderr(), /shutdown timeout/);
    assert.match(server.stderr(), /forced 1 connection\(s\) closed/);
  });

  test('after SIGTERM new requests get 503 and /healthz says stopping', async (t) => {
    const server = await startServer({ env: { SHUTDOWN_TIMEOUT: '2s' } });
    t.after(() => server.kill());
    const deaf = await deafClient(server);  // keeps the server in its shutdown for a while
    t.after(() => deaf.destroy());
    await connectionsOpen(server, 1);
    const stopped = server.stop('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const health = await http(server, '/healthz');
    assert.equal(health.status, 503);
    assert.deepEqual(health.json, { status: 'stopping' });
    assert.equal((await http(server, '/api/rooms')).status, 503);
    assert.equal((await http(server, '/')).status, 503);
    assert.equal((await handshakeStatus(server)).status, 503);
    assert.equal((await stopped).code, 0);
  });
});
