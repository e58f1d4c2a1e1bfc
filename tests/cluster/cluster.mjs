// Cluster test kit: a real redis-server (Debian's) on a free loopback port and
// parley-server nodes joined to it with REDIS_URL. Builds on tests/server/harness.mjs.
//
// Environment:
//   PARLEY_SERVER_BIN   the binary (default: the newest build/*/parley-server)
//   REDIS_SERVER_BIN    redis-server (default: redis-server on PATH)

import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach } from 'node:test';
import { ChatClient, eventually, http, startServer, TIMEOUT_MS } from '../server/harness.mjs';

export { ChatClient, EventStream, eventually, http, metric, sleep, TIMEOUT_MS } from '../server/harness.mjs';

/**
 * For a test file: `track(promise)` awaits a started process (redis-server, a
 * node, a proxy) and kills it after the test that started it, newest first.
 */
export function trackProcesses() {
  const started = [];
  afterEach(async () => {
    for (const p of started.splice(0).reverse()) await p.kill();
  });
  return async (promise) => {
    const p = await promise;
    started.push(p);
    return p;
  };
}

/** A loopback TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves true once something on `port` answers PING with PONG. */
function pingRedis(port, extraArgs = []) {
  const auth = extraArgs.indexOf('--requirepass');
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(auth >= 0 ? `AUTH ${extraArgs[auth + 1]}\r\nPING\r\n` : 'PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('+PONG') || answer.includes('-')) done(answer.includes('+PONG'));
    });
  });
}

/** Sends one command to the Redis on `port`; resolves with the raw RESP reply text. */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error(`no reply to ${args[0]}`)); });
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.endsWith('\r\n')) { socket.destroy(); resolve(answer.trim()); }
    });
  });
}

/**
 * Starts redis-server without persistence on `port` (default: a free one) and
 * resolves once it answers. `stop()` ends it (SIGTERM); `kill()` for teardown.
 */
export async function startRedis(port, extraArgs = []) {
  port = port ?? await freePort();
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--loglevel', 'warning', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const spawnError = new Promise((resolve) => child.on('error', resolve));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
    return pingRedis(port, extraArgs);
  }, TIMEOUT_MS, 50).catch(async (error) => {
    // Never answered: end it here, as nobody gets a handle to stop it.
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    const e = await Promise.race([spawnError, Promise.resolve(null)]);
    throw e ?? error;
  });
  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { port, url: `redis://127.0.0.1:${port}`, child, stop, kill: () => stop('SIGKILL'), output: () => output };
}

/**
 * A TCP proxy on a free loopback port to `port`. `freeze()` makes the links it
 * carries now go silent both ways without closing anything (what a peer that
 * vanished looks like); later connections are carried normally. `refuse()`
 * stops accepting (new connections are refused) until `accept()`;
 * `cutSubscribers()` closes the links that sent SUBSCRIBE. `kill()` ends it.
 */
export async function startProxy(port) {
  const links = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    const link = { frozen: false, subscriber: false, sockets: [client, upstream] };
    links.add(link);
    client.on('data', (d) => {
      if (d.includes('SUBSCRIBE')) link.subscriber = true;
      if (!link.frozen) upstream.write(d);
    });
    upstream.on('data', (d) => { if (!link.frozen) client.write(d); });
    const end = () => { links.delete(link); client.destroy(); upstream.destroy(); };
    for (const socket of link.sockets) {
      socket.on('error', end);
      socket.on('close', () => { if (!link.frozen) end(); });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = server.address().port;
  return {
    port: proxyPort,
    url: `redis://127.0.0.1:${proxyPort}`,
    freeze: () => { for (const link of links) link.frozen = true; },
    // close() stops listening at once; its callback would wait for every link to end.
    refuse: () => { server.close(); },
    accept: () => new Promise((resolve) => server.listen(proxyPort, '127.0.0.1', resolve)),
    cutSubscribers: () => {
      for (const link of links) if (link.subscriber) link.sockets.forEach((s) => s.destroy());
    },
    kill: () => {
      for (const link of links) link.sockets.forEach((s) => s.destroy());
      links.clear();
      if (server.listening) server.close();
    },
  };
}

/** Starts parley-server joined to `redis`; resolves once /healthz says Redis is up. */
export async function startNode(redis, { ttl = '15s', env = {}, name } = {}) {
  const node = await startServer({
    env: { REDIS_URL: redis.url, REDIS_TTL: ttl, ...(name ? { NODE_ID: name } : {}), ...env },
  });
  try {
    await eventually(async () => (await http(node, '/healthz')).status === 200);
  } catch (error) {
    // Never healthy: end it here, as nobody gets a handle to stop it.
    await node.kill();
    throw new Error(`${error.message}; node stderr:\n${node.stderr()}`);
  }
  return node;
}

/** Logs in `nick` on `node` and joins `room`; resolves with the client (its `joined` frame in `.joined`). */
export async function member(node, nick, room = 'general') {
  const client = await ChatClient.login(node, nick);
  client.joined = await client.request({ type: 'join', room });
  if (client.joined.type !== 'joined') throw new Error(`join refused: ${JSON.stringify(client.joined)}`);
  return client;
}

/** The lobby's list of rooms on `node` (REST). */
export async function rooms(node) {
  return (await http(node, '/api/rooms')).json.rooms;
}

/**
 * A tiny TCP load balancer on a free loopback port that sends every new
 * connection to one backend port, `port`. `switchTo(other)` sends later
 * connections to `other` and cuts the ones it carries now (a client that
 * reconnects, or a page reloaded over a kept-alive HTTP connection, then lands
 * on the new backend); `switchTo(other, { cut: false })` keeps them. `kill()`
 * ends it and every link.
 */
export async function startBalancer(port) {
  let target = port;
  const links = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    const link = [client, upstream];
    links.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => { links.delete(link); client.destroy(); upstream.destroy(); };
    for (const socket of link) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const balancerPort = server.address().port;
  const cutAll = () => {
    for (const link of links) link.forEach((s) => s.destroy());
    links.clear();
  };
  return {
    port: balancerPort,
    url: `http://127.0.0.1:${balancerPort}`,
    target: () => target,
    links: () => links.size,
    switchTo: (other, { cut = true } = {}) => {
      target = other;
      if (cut) cutAll();
    },
    kill: () => {
      cutAll();
      if (server.listening) server.close();
    },
  };
}
