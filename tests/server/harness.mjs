// Test harness for parley-server: starts the real binary on an ephemeral
// loopback port, and talks to it like an outside client would (HTTP with fetch
// or a raw socket, SSE, WebSockets with the `ws` package).
//
// Environment:
//   PARLEY_SERVER_BIN   the binary (default: the newest build/*/parley-server)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');

/** Long enough for a loaded CI machine, short enough that a hang fails soon. */
export const TIMEOUT_MS = 10_000;

export function serverBinary() {
  if (process.env.PARLEY_SERVER_BIN) return path.resolve(process.env.PARLEY_SERVER_BIN);
  const build = path.join(ROOT, 'build');
  const candidates = fs.existsSync(build)
    ? fs.readdirSync(build)
        .map((dir) => path.join(build, dir, 'parley-server'))
        .filter((file) => fs.existsSync(file))
    : [];
  if (candidates.length === 0) {
    throw new Error('parley-server not found: build it (tools/test.sh server) or set PARLEY_SERVER_BIN');
  }
  candidates.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0];
}

/**
 * Starts parley-server on 127.0.0.1 with an ephemeral port and resolves once it
 * printed its "listening on" line. `env` adds environment variables; without
 * PARLEY_DB in it the server keeps its history in memory, so every test starts
 * from an empty chat.
 */
export async function startServer({ args = [], env = {} } = {}) {
  const bin = serverBinary();
  const child = spawn(bin, ['--port', '0', '--host', '127.0.0.1', ...args], {
    env: { ...process.env, PARLEY_DB: ':memory:', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never says it listens is killed, not left running after the test.
      child.kill('SIGKILL');
      reject(new Error(`no "listening on" line; stderr:\n${stderr}`));
    }, TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/^parley-server listening on (http:\/\/\S+)$/m);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`parley-server exited (${code ?? signal}) before listening; stderr:\n${stderr}`));
    });
  });
  const server = {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    host: new URL(url).host,
    child,
    exited,
    stderr: () => stderr,
    /** Sends `signal` and resolves with {code, signal, ms} once the process ended. */
    async stop(signal = 'SIGTERM') {
      const start = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const result = await exited;
      return { ...result, ms: Date.now() - start };
    },
    /** Kills the process if it is still running (test teardown). */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  return server;
}

/** fetch() that resolves to {status, headers, text, json}. */
export async function http(server, pathname, init = {}) {
  const response = await fetch(server.url + pathname, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * Sends `request` (a complete HTTP/1.1 request, exactly as given: no path
 * normalisation) on a new TCP connection and resolves with the parsed response.
 */
export function rawHttp(server, request) {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw HTTP request timed out'));
    }, TIMEOUT_MS);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw : raw.slice(0, split);
      const [statusLine, ...lines] = head.split('\r\n');
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: split < 0 ? '' : raw.slice(split + 4) });
    });
  });
}

/** A GET of `target` sent byte for byte. */
export function rawGet(server, target) {
  return rawHttp(server, `GET ${target} HTTP/1.1\r\nHost: ${server.host}\r\nConnection: close\r\n\r\n`);
}

/**
 * A WebSocket client that queues what it receives so a test can wait for the
 * next frame matching a predicate.
 */
export class ChatClient {
  constructor(socket) {
    this.socket = socket;
    this.frames = [];      // every parsed frame, in order
    this.unread = [];      // frames not yet taken by next()
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    socket.on('message', (data, isBinary) => {
      const frame = isBinary ? { binary: data } : JSON.parse(data.toString());
      this.frames.push(frame);
      this.unread.push(frame);
      this.flush();
    });
    this.closed.then(() => this.flush());
  }

  /** Connects to the server's /ws; `options` go to `ws` (e.g. {origin}). */
  static async connect(server, options = {}) {
    const socket = new WebSocket(server.wsUrl, options);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
      socket.once('unexpected-response', (request, response) =>
        reject(new Error(`handshake refused with ${response.statusCode}`)));
    });
    return new ChatClient(socket);
  }

  /** Connects and says hello; resolves once `welcome` arrived. */
  static async login(server, nick, options = {}) {
    const client = await ChatClient.connect(server, options);
    client.send({ type: 'hello', nick });
    client.welcome = await client.next((f) => f.type === 'welcome' || f.type === 'error');
    if (client.welcome.type !== 'welcome') throw new Error(`hello refused: ${JSON.stringify(client.welcome)}`);
    return client;
  }

  send(object) {
    this.socket.send(JSON.stringify(object));
  }

  /** The next unread frame for which `match(frame)` holds (others stay unread). */
  next(match = () => true, timeoutMs = TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms; unread: ${JSON.stringify(this.unread)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      this.flush();
    });
  }

  /** Sends `request` with a fresh ref and resolves with the reply carrying it. */
  async request(request) {
    ChatClient.refs = (ChatClient.refs ?? 0) + 1;
    const ref = `r${ChatClient.refs}`;
    this.send({ ...request, ref });
    return this.next((f) => f.ref === ref);
  }

  flush() {
    for (const waiter of [...this.waiters]) {
      const index = this.unread.findIndex(waiter.match);
      if (index >= 0) {
        const [frame] = this.unread.splice(index, 1);
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(frame);
      }
    }
  }

  close(code = 1000) {
    this.socket.close(code);
    return this.closed;
  }
}

/** Resolves with the HTTP status of a refused WebSocket handshake (or 101). */
export function handshakeStatus(server, { path: wsPath = '/ws', ...options } = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}${wsPath}`, options);
    socket.once('open', () => {
      socket.terminate();
      resolve({ status: 101 });
    });
    socket.once('unexpected-response', (request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => {
        resolve({ status: response.statusCode, headers: response.headers, body });
        request.destroy();
      });
    });
    socket.once('error', (error) => {
      if (!socket.listenerCount('unexpected-response')) reject(error);
    });
  });
}

/**
 * Follows a Server-Sent Events stream; `next(match)` resolves with the next
 * event {event, data} for which `match` holds.
 */
export class EventStream {
  constructor(server, pathname = '/api/lobby/events') {
    this.controller = new AbortController();
    this.events = [];
    this.unread = [];
    this.waiters = [];
    this.comments = 0;
    this.ended = false;
    this.ready = this.open(server.url + pathname);
  }

  async open(url) {
    const response = await fetch(url, { signal: this.controller.signal, headers: { Accept: 'text/event-stream' } });
    this.status = response.status;
    this.headers = response.headers;
    this.done = this.read(response.body).catch(() => {}).finally(() => {
      this.ended = true;
      this.flush();
    });
    return response;
  }

  async read(body) {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) this.comments += 1;
          else if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) {
          const parsed = { event, data: JSON.parse(data.join('\n')) };
          this.events.push(parsed);
          this.unread.push(parsed);
          this.flush();
        }
      }
    }
  }

  next(match = () => true, timeoutMs = TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching event within ${timeoutMs} ms; seen: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      this.flush();
    });
  }

  flush() {
    for (const waiter of [...this.waiters]) {
      const index = this.unread.findIndex(waiter.match);
      if (index >= 0) {
        const [event] = this.unread.splice(index, 1);
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(event);
      } else if (this.ended) {
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.reject(new Error(`stream ended; seen: ${JSON.stringify(this.events)}`));
      }
    }
  }

  close() {
    this.controller.abort();
  }
}

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check()` until it returns a truthy value or the time is up. */
export async function eventually(check, timeoutMs = TIMEOUT_MS, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** The value of one sample in Prometheus text, e.g. metric(text, 'parley_rooms'). */
export function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
