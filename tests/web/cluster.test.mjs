// The browser app on two parley-server nodes joined through one redis-server:
// alice's browser talks to node A, bob's to node B (through a tiny TCP balancer),
// and both see one chat: one lobby with summed member counts, one room, messages
// both ways in order, typing across nodes; then bob's connection moves to node A
// and back, and his timeline stays complete, in order, without duplicates.
//
//   PARLEY_SERVER_BIN=build/gcc-cxx17/parley-server node --test cluster.test.mjs
//
// Environment:
//   PARLEY_SERVER_BIN   the server binary, built with hiredis (required; skipped without it)
//   REDIS_SERVER_BIN    redis-server (default: redis-server on PATH)
//   CHROMIUM_PATH, ARTIFACTS_DIR  see browser.mjs
//
// Everything runs on loopback on free ports; the nodes, Redis, the balancer and
// both browsers are stopped at the end whatever happened.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STEP_TIMEOUT_MS, launchUser, messageTexts, openRoom, pickNickname, screenshot, waitForText,
} from './browser.mjs';
import { eventually, http, metric, startBalancer, startNode, startRedis } from '../cluster/cluster.mjs';

const SKIP = process.env.PARLEY_SERVER_BIN ? false : 'PARLEY_SERVER_BIN is not set';
const ALICE = 'cl_alice';
const BOB = 'cl_bob';
const ROOM = 'across-nodes';

const portOf = (node) => Number(new URL(node.url).port);

/** The WebSocket connections `node` holds now (its /metrics gauge). */
async function sockets(node) {
  return metric((await http(node, '/metrics')).text, 'parley_server_websocket_connections');
}

async function send(user, text) {
  await user.page.getByTestId('composer-input').fill(text);
  await user.page.getByTestId('composer-send').click();
}

const sentLocator = (user, text) =>
  user.page.locator('[data-testid="message"][data-state="sent"]', { hasText: text });

const roomItem = (user) => user.page.locator(`[data-testid="room-item"][data-room-name="${ROOM}"]`);

/** The room's messages on `user`'s page: each expected text once, in order, seqs unique and ascending. */
async function assertTimeline(user, expected) {
  const texts = await messageTexts(user.page);
  assert.deepEqual(texts.filter((text) => expected.includes(text)), expected, `${user.name}: order, no gaps`);
  for (const text of expected) {
    assert.equal(texts.filter((t) => t === text).length, 1, `${user.name}: "${text}" once`);
  }
  const seqs = await user.page.getByTestId('messages').getByTestId('message')
    .evaluateAll((nodes) => nodes.map((node) => Number(node.dataset.seq)).filter((n) => n > 0));
  assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y), `${user.name}: seqs ascending, unique`);
}

let redis;
let a;
let b;
let balancer;
let alice;
let bob;

before(async () => {
  if (SKIP) return;
  redis = await startRedis();
  a = await startNode(redis, { name: 'web-a' });
  b = await startNode(redis, { name: 'web-b' });
  balancer = await startBalancer(portOf(b));
  alice = await launchUser('cluster-alice');
  bob = await launchUser('cluster-bob');
});

after(async () => {
  await alice?.close();
  await bob?.close();
  balancer?.kill();
  await a?.kill();
  await b?.kill();
  await redis?.kill();
});

test('browsers on two nodes behind one Redis are in one chat', { skip: SKIP }, async (t) => {
  const conversation = [];

  await t.test('alice on node A and bob on node B pick their nicknames', async () => {
    await alice.page.goto(a.url);
    await pickNickname(alice, ALICE);
    await bob.page.goto(balancer.url);
    // A nickname held on A is taken on B too.
    await bob.page.getByTestId('nickname-input').fill(ALICE);
    await bob.page.getByTestId('nickname-submit').click();
    await waitForText(bob.page.getByTestId('nickname-error'), /taken/i);
    await pickNickname(bob, BOB);
    assert.equal(await sockets(a), 1);
    assert.equal(await sockets(b), 1);
  });

  await t.test('a room alice creates on A appears in bob\'s lobby on B, with members summed over nodes', async () => {
    await openRoom(alice, ROOM);
    await roomItem(bob).waitFor();
    await bob.page.locator(`[data-testid="room-item"][data-room-name="${ROOM}"][data-members="1"]`).waitFor();
    await openRoom(bob, ROOM);
    for (const user of [alice, bob]) {
      await user.page.locator(`[data-testid="room-item"][data-room-name="${ROOM}"][data-members="2"]`).waitFor();
    }
    assert.equal(await roomItem(alice).getAttribute('data-room-id'), await roomItem(bob).getAttribute('data-room-id'));
    await waitForText(alice.page.getByTestId('notice'), new RegExp(`${BOB} joined`));
    await screenshot(bob, 'cluster-01-lobby');
  });

  // The member list is cluster-wide: each node lists the other node's member too.
  await t.test('each sees the other in the joined member list', async () => {
    await bob.page.locator(`[data-testid="member"][data-nick="${ALICE}"]`).waitFor();
    await alice.page.locator(`[data-testid="member"][data-nick="${BOB}"]`).waitFor();
  });

  await t.test('alice typing on A shows on bob\'s page on B', async () => {
    await alice.page.getByTestId('composer-input').pressSequentially('hello from A', { delay: 30 });
    await waitForText(bob.page.getByTestId('typing-indicator'), new RegExp(`${ALICE} is typing`));
    await screenshot(bob, 'cluster-02-typing');
    await alice.page.getByTestId('composer-input').press('Enter');
    conversation.push('hello from A');
    await waitForText(bob.page.getByTestId('message-text'), /^hello from A$/);
    await sentLocator(alice, 'hello from A').waitFor();
    // The message ends the typing indicator, across nodes too.
    await bob.page.waitForFunction(
      () => document.querySelector('[data-testid="typing-indicator"]').textContent === '',
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
  });

  await t.test('they chat both ways, in order, each message once on both pages', async () => {
    for (let i = 1; i <= 6; i++) {
      const [author, reader] = i % 2 ? [bob, alice] : [alice, bob];
      const text = `${author === alice ? 'A' : 'B'} says ${i}`;
      await send(author, text);
      await sentLocator(author, text).waitFor();
      await waitForText(reader.page.getByTestId('message-text'), new RegExp(`^${text}$`));
      conversation.push(text);
    }
    // Two quick messages from each side without waiting: still one order everywhere.
    for (const text of ['burst A1', 'burst A2']) await send(alice, text);
    for (const text of ['burst B1', 'burst B2']) await send(bob, text);
    for (const text of ['burst A1', 'burst A2']) await sentLocator(alice, text).waitFor();
    for (const text of ['burst B1', 'burst B2']) await sentLocator(bob, text).waitFor();
    for (const user of [alice, bob]) {
      for (const text of ['burst A1', 'burst A2', 'burst B1', 'burst B2']) {
        await waitForText(user.page.getByTestId('message-text'), new RegExp(`^${text}$`));
      }
    }
    const burst = (await messageTexts(alice.page)).filter((text) => text.startsWith('burst '));
    assert.deepEqual((await messageTexts(bob.page)).filter((text) => text.startsWith('burst ')), burst, 'one order on both nodes');
    conversation.push(...burst);
    for (const user of [alice, bob]) await assertTimeline(user, conversation);
    await screenshot(alice, 'cluster-03-conversation');
  });

  await t.test('bob\'s connection moves to node A: he reconnects on his own and misses nothing', async () => {
    balancer.switchTo(portOf(a));
    await bob.page.locator('[data-testid="connection-status"]:not([data-state="online"])').waitFor();
    await bob.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
    await eventually(async () => (await sockets(a)) === 2 && (await sockets(b)) === 0);
    await send(alice, 'after the move');
    await waitForText(bob.page.getByTestId('message-text'), /^after the move$/);
    await send(bob, 'bob now on A');
    await waitForText(alice.page.getByTestId('message-text'), /^bob now on A$/);
    await sentLocator(bob, 'bob now on A').waitFor();
    conversation.push('after the move', 'bob now on A');
    for (const user of [alice, bob]) await assertTimeline(user, conversation);
  });

  await t.test('bob reloads the page on node B again: nickname, room and history back, no duplicates', async () => {
    balancer.switchTo(portOf(b));
    await bob.page.reload();
    await waitForText(bob.page.getByTestId('current-nick'), new RegExp(`^${BOB}$`));
    await bob.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
    await waitForText(bob.page.getByTestId('room-title'), ROOM);
    await waitForText(bob.page.getByTestId('message-text'), /^bob now on A$/);
    await eventually(async () => (await sockets(a)) === 1 && (await sockets(b)) === 1);
    await assertTimeline(bob, conversation);
    await send(bob, 'back on B');
    await waitForText(alice.page.getByTestId('message-text'), /^back on B$/);
    conversation.push('back on B');
    for (const user of [alice, bob]) await assertTimeline(user, conversation);
    await screenshot(bob, 'cluster-04-after-reload');
  });

  await t.test('no page errors and no Content-Security-Policy violations', () => {
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
