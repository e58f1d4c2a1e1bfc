// A protocol-level client (the `ws` package) for the end-to-end tests: things a
// second browser cannot easily do, or checks on exactly which frames arrived.

import WebSocket from 'ws';
import { STEP_TIMEOUT_MS } from './browser.mjs';

/** Connects to the server at `baseUrl` and says hello as `nick`; resolves once welcomed. */
export function rawClient(baseUrl, nick) {
  const url = `${baseUrl.replace(/^http/, 'ws')}/ws`;
  // Same Origin as the page: the server accepts only same-origin sockets by default.
  const socket = new WebSocket(url, { origin: new URL(baseUrl).origin });
  const frames = [];
  const waiters = [];
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data));
    frames.push(frame);
    for (const waiter of [...waiters]) {
      if (waiter.match(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  });
  const client = {
    frames,
    send: (frame) => socket.send(JSON.stringify(frame)),
    next(match) {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${nick}: no matching frame`)), STEP_TIMEOUT_MS);
        waiters.push({ match, resolve: (frame) => { clearTimeout(timer); resolve(frame); } });
      });
    },
    close: () => socket.close(),
  };
  return new Promise((resolve, reject) => {
    socket.once('open', async () => {
      client.send({ type: 'hello', nick });
      const reply = await client.next((f) => f.type === 'welcome' || f.type === 'error');
      if (reply.type === 'error') reject(new Error(`${nick}: hello refused: ${reply.code}`));
      else resolve(client);
    });
    socket.once('error', reject);
  });
}
