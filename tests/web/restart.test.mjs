// Two browsers chat while the server is killed (SIGKILL) and started again on
// the same port and database: both reconnect on their own and show the whole
// conversation, nothing missing, nothing doubled, including a message typed
// while the server was down.
//
//   PARLEY_SERVER_BIN=build/gcc-cxx17/parley-server node --test restart.test.mjs
//
// Environment:
//   PARLEY_SERVER_BIN   the server binary (required; the test is skipped without it)
//   CHROMIUM_PATH, ARTIFACTS_DIR  see browser.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  STEP_TIMEOUT_MS, launchUser, messageTexts, openRoom, pickNickname, screenshot, waitForText,
} from './browser.mjs';

const SERVER_BIN = process.env.PARLEY_SERVER_BIN;
const SKIP = SERVER_BIN ? false : 'PARLEY_SERVER_BIN is not set';
const ROOM = 'general';
// More than the server's flush interval (50 ms): what was broadcast before is on disk.
const SETTLE_MS = 300;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the server on `port` with `db`; resolves with {url, child, log()} once it listens. */
function startServer(port, db) {
  const child = spawn(SERVER_BIN, ['--host', '127.0.0.1', '--port', String(port), '--db', db],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => { err += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), STEP_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const match = out.match(/^parley-server listening on (http:\/\/\S+)$/m);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child, log: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${err}`));
    });
  });
}

function kill(server) {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  return exited;
}

async function send(user, text) {
  await user.page.getByTestId('composer-input').fill(text);
  await user.page.getByTestId('composer-send').click();
}

const sentLocator = (user, text) =>
  user.page.locator('[data-testid="message"][data-state="sent"]', { hasText: text });

let scratch;
let server;
let alice;
let bob;

before(async () => {
  if (SKIP) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-restart-'));
  alice = await launchUser('restart-alice');
  bob = await launchUser('restart-bob');
});

after(async () => {
  await alice?.close();
  await bob?.close();
  await kill(server);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

test('the conversation survives a server crash and restart in both browsers', { skip: SKIP }, async () => {
  const port = await freePort();
  const db = path.join(scratch, 'chat.db');
  server = await startServer(port, db);

  for (const [user, nick] of [[alice, 'rs_alice'], [bob, 'rs_bob']]) {
    await user.page.goto(server.url);
    await pickNickname(user, nick);
    await openRoom(user, ROOM);
  }
  const before = [];
  for (let i = 1; i <= 6; i++) {
    const [author, reader] = i % 2 ? [alice, bob] : [bob, alice];
    const text = `before crash ${i}`;
    await send(author, text);
    await sentLocator(author, text).waitFor();
    await waitForText(reader.page.getByTestId('message-text'), new RegExp(`^${text}$`));
    before.push(text);
  }
  await sleep(SETTLE_MS);

  await kill(server);
  for (const user of [alice, bob]) {
    await user.page.locator('[data-testid="connection-status"]:not([data-state="online"])').waitFor();
  }
  // Typed while the server is down: it waits in the page and goes out once.
  await send(alice, 'sent while offline');
  await screenshot(alice, 'restart-01-offline');

  server = await startServer(port, db);
  for (const user of [alice, bob]) {
    await user.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
  }
  await sentLocator(alice, 'sent while offline').waitFor();
  await waitForText(bob.page.getByTestId('message-text'), /^sent while offline$/);
  await send(bob, 'after restart');
  await waitForText(alice.page.getByTestId('message-text'), /^after restart$/);
  await sentLocator(bob, 'after restart').waitFor();

  const expected = [...before, 'sent while offline', 'after restart'];
  for (const user of [alice, bob]) {
    const texts = await messageTexts(user.page);
    assert.deepEqual(texts.filter((text) => expected.includes(text)), expected, `${user.name}: order, no gaps`);
    for (const text of expected) {
      assert.equal(texts.filter((t) => t === text).length, 1, `${user.name}: "${text}" once`);
    }
    const seqs = await user.page.getByTestId('messages').getByTestId('message')
      .evaluateAll((nodes) => nodes.map((node) => Number(node.dataset.seq)).filter((n) => n > 0));
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), `${user.name}: seqs ascending, unique`);
    assert.deepEqual(user.problems, []);
    await screenshot(user, 'restart-02-after');
  }

  // A reload after the restart rebuilds the same timeline from the database.
  await bob.page.reload();
  await bob.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
  await waitForText(bob.page.getByTestId('message-text'), /^after restart$/);
  const reloaded = (await messageTexts(bob.page)).filter((text) => expected.includes(text));
  assert.deepEqual(reloaded, expected);
});
