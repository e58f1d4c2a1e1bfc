// The browser app keeps to the limits the server announces (welcome.limits),
// tried as a user would in headless chromium against a running server:
//
//   PARLEY_URL=http://127.0.0.1:8080 node --test limits.test.mjs   (from tests/web, after npm install)
//
// Environment: PARLEY_URL (required; skipped without it), PARLEY_NICK_SUFFIX, and
// CHROMIUM_PATH / ARTIFACTS_DIR (see browser.mjs).
//
// The failure this guards against: a 20 000-character paste went out as a frame
// over the server's 16 KiB limit, the server closed with 1009, and the app
// reconnected and re-sent the same message, forever, with every later message
// queued behind it.
//
// Dana pastes into a normal page: the composer must refuse it before anything
// is sent. Erin's page is told (by rewriting `welcome` on its way in, with
// playwright's WebSocket routing) that the server accepts far more than it
// does, so her messages reach the server and are refused there: once with the
// `text_too_long` error, once by closing the connection. That close is 1009 on
// the wire, but chromium usually reports 1006: the server closes before it has
// read the whole frame, so the browser sees a reset. Either way the app must
// give up on the message after at most one more try. Frank, a raw WebSocket
// client in the same room, shows what was actually delivered.
//
// Selectors beyond those listed in e2e.test.mjs:
//   data-testid="composer-count"    "<chars> / <limit>", data-state = ok|near|over
//   data-testid="composer-problem"  why the draft cannot be sent (empty when it can)
//   data-testid="message-error"     on a failed message: "Not sent. <reason>"; Retry and Discard beside it

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STEP_TIMEOUT_MS, launchUser, openRoom, pickNickname, screenshot, waitForText } from './browser.mjs';
import { rawClient } from './raw_client.mjs';

const BASE_URL = process.env.PARLEY_URL?.replace(/\/+$/, '');
const SUFFIX = process.env.PARLEY_NICK_SUFFIX || '';
const DANA = `dana${SUFFIX}`;
const ERIN = `erin${SUFFIX}`;
const FRANK = `frank${SUFFIX}`;
const ROOM = 'limits';

const SKIP = BASE_URL
  ? false
  : 'PARLEY_URL is not set: start the example server and run e.g. PARLEY_URL=http://127.0.0.1:8080 npm test';

// 20 000 characters of prose, well over both the 2 000-character and the 16 KiB frame limit.
const PASTE = 'A long paste that nobody should have to send twice. '.repeat(400).slice(0, 20_000);
// Long enough for the close and the first reconnect the bug produced (the
// backoff starts at 250-500 ms), so their absence means something.
const SETTLE_MS = 2_000;

let dana;
let erin;
let frank;

before(async () => {
  if (SKIP) return;
  frank = await rawClient(BASE_URL, FRANK);
  dana = await launchUser('dana');
  erin = await launchUser('erin');
});

after(async () => {
  frank?.close();
  await dana?.close();
  await erin?.close();
});

/** Frank joins `ROOM` (its id read from the page's lobby). */
async function frankJoins(page) {
  const roomId = await page.locator(`[data-testid="room-item"][data-room-name="${ROOM}"]`).getAttribute('data-room-id');
  frank.send({ type: 'join', room: roomId });
  await frank.next((f) => f.type === 'joined');
}

/** Resolves once `predicate()` holds (checked every 50 ms); fails after STEP_TIMEOUT_MS. */
async function until(predicate, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const messagesFrankGot = () => frank.frames.filter((f) => f.type === 'message').map((f) => f.text);

test('a 20 000-character paste is refused in the composer, and the chat goes on', { skip: SKIP }, async (t) => {
  const { page } = dana;
  // Every socket the page opens, with the frames it sent and whether it closed.
  const sockets = [];
  page.on('websocket', (socket) => {
    const record = { sent: [], closed: false };
    socket.on('framesent', ({ payload }) => record.sent.push(String(payload)));
    socket.on('close', () => { record.closed = true; });
    sockets.push(record);
  });
  const sentTypes = () => sockets.flatMap((s) => s.sent.map((payload) => JSON.parse(payload).type));
  const input = page.getByTestId('composer-input');
  const counter = page.getByTestId('composer-count');
  const problem = page.getByTestId('composer-problem');

  await t.test(`dana enters room "${ROOM}" and frank is there too`, async () => {
    await page.goto(BASE_URL);
    await pickNickname(dana, DANA);
    await openRoom(dana, ROOM);
    await frankJoins(page);
    await waitForText(counter, /^0 \/ 2,000$/);
  });

  await t.test('she pastes 20 000 characters: the counter and a reason say it is too long', async () => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(BASE_URL).origin });
    await page.evaluate((text) => navigator.clipboard.writeText(text), PASTE);
    await input.focus();
    await page.keyboard.press('ControlOrMeta+V');
    await waitForText(counter, /^20,000 \/ 2,000$/);
    assert.equal(await counter.getAttribute('data-state'), 'over');
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.match(await problem.textContent(), /20,000 characters long; the limit is 2,000\. Remove 18,000 characters/);
    assert.ok(await problem.isVisible());
    await screenshot(dana, 'limits-01-paste-refused');
  });

  await t.test('pressing Enter sends nothing, keeps the text, and the connection stays open', async () => {
    await input.press('Enter');
    await page.waitForTimeout(SETTLE_MS);
    assert.equal((await input.inputValue()).length, 20_000);
    // (The room's history may hold an earlier run's messages: only dana's count.)
    assert.equal(await page.locator(`[data-testid="message"][data-from="${DANA}"]`).count(), 0);
    assert.ok(!sentTypes().includes('send'), `frames sent: ${sentTypes().join(', ')}`);
    assert.equal(sockets.length, 1, 'the page opened another socket: it reconnected');
    assert.equal(sockets[0].closed, false);
    assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'online');
  });

  await t.test('with the paste gone, a short message reaches frank once, on the same connection', async () => {
    await input.fill('');
    await waitForText(counter, /^0 \/ 2,000$/);
    assert.equal(await problem.textContent(), '');
    await input.fill('Sorry, wrong paste. Lunch at one?');
    await input.press('Enter');
    await frank.next((f) => f.type === 'message' && f.from === DANA);
    await page.locator(`[data-testid="message"][data-state="sent"][data-from="${DANA}"]`, { hasText: 'Lunch at one?' }).waitFor();
    assert.deepEqual(messagesFrankGot(), ['Sorry, wrong paste. Lunch at one?']);
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].closed, false);
  });

  await t.test('the same paste in a direct message is refused beside the field, then a short one goes', async () => {
    await page.getByRole('button', { name: `Send a direct message to ${FRANK}` }).click();
    const dmInput = page.getByTestId('dm-input');
    await dmInput.fill(PASTE);
    await dmInput.press('Enter');
    assert.match(await dmInput.evaluate((field) => field.validationMessage), /20,000 characters long; the limit is 2,000/);
    assert.equal((await dmInput.inputValue()).length, 20_000);
    assert.equal(await page.getByTestId('dm-message').count(), 0);
    await dmInput.fill('Psst, ignore that paste.');
    await dmInput.press('Enter');
    await frank.next((f) => f.type === 'dm' && f.from === DANA);
    assert.deepEqual(frank.frames.filter((f) => f.type === 'dm').map((f) => f.text), ['Psst, ignore that paste.']);
    assert.ok(!sockets[0].sent.some((payload) => payload.length > 1000), 'a long frame went out');
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].closed, false);
  });

  await t.test('no page errors', () => {
    assert.deepEqual(dana.problems, []);
  });
});

test('a message the server refuses is marked failed and never re-sent on its own', { skip: SKIP }, async (t) => {
  const { page } = erin;
  // One record per connection the page opens: the frames it sent and how the server closed it.
  const connections = [];
  await page.routeWebSocket(/\/ws$/, (socket) => {
    const record = { sent: [], closeCode: null };
    connections.push(record);
    const server = socket.connectToServer();
    socket.onMessage((message) => {
      record.sent.push(JSON.parse(String(message)));
      server.send(message);
    });
    server.onMessage((message) => {
      const frame = JSON.parse(String(message));
      if (frame.type !== 'welcome') return socket.send(message);
      // Claim limits far above the real ones, so that the app lets the
      // messages through and the server's own refusals are what is tested.
      frame.limits = { ...frame.limits, max_text_chars: 1_000_000, max_frame_bytes: 1 << 24 };
      return socket.send(JSON.stringify(frame));
    });
    server.onClose((code, reason) => {
      record.closeCode = code;
      socket.close({ code, reason });
    });
  });
  const sentTexts = (record) => record.sent.filter((f) => f.type === 'send').map((f) => f.text);
  const input = page.getByTestId('composer-input');
  const failed = page.locator('[data-testid="message"][data-state="failed"]');
  const TOO_LONG = 'Two thousand and more. '.repeat(120);   // 2 760 characters: under 16 KiB
  const AFTER = 'Back again, and this one is short.';

  await t.test(`erin enters room "${ROOM}" (her page believes the server's limits are huge)`, async () => {
    await page.goto(BASE_URL);
    await pickNickname(erin, ERIN);
    await openRoom(erin, ROOM);
    await waitForText(page.getByTestId('composer-count'), /^0 \/ 1,000,000$/);
  });

  await t.test('text_too_long: the message is marked failed with the server\'s reason', async () => {
    await input.fill(TOO_LONG);
    await input.press('Enter');
    await failed.filter({ hasText: 'Two thousand and more.' }).getByTestId('message-error').filter({ hasText: /^Not sent\. Text is longer than 2000 characters\.$/ }).waitFor();
    assert.deepEqual(sentTexts(connections[0]), [TOO_LONG]);
  });

  await t.test('a frame over 16 KiB closes the connection: the message is marked failed after at most one re-send', async () => {
    await input.fill(PASTE);
    await input.press('Enter');
    await failed.getByTestId('message-error').filter({ hasText: /will not be sent again unless you retry it\.$/ }).waitFor();
    assert.ok([1006, 1009].includes(connections[0].closeCode), `closed with ${connections[0].closeCode}`);
    await page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
    await screenshot(erin, 'limits-02-refused-messages');
  });

  await t.test('then nothing is re-sent, and later messages are not stuck behind the failed ones', async () => {
    await page.waitForTimeout(SETTLE_MS);
    const settled = connections.length;
    // 2 after a 1009 the page saw, 3 after two 1006 (the first drop is forgiven).
    assert.ok(settled <= 3, `${settled} connections: a reconnect loop`);
    const last = connections.at(-1);
    assert.equal(last.closeCode, null);
    assert.deepEqual(sentTexts(last), []);
    assert.deepEqual(connections.slice(1).flatMap(sentTexts).filter((text) => text === TOO_LONG), []);
    await input.fill(AFTER);
    await input.press('Enter');
    await frank.next((f) => f.type === 'message' && f.text === AFTER);
    await page.locator(`[data-testid="message"][data-state="sent"][data-from="${ERIN}"]`, { hasText: AFTER }).waitFor();
    assert.equal(await failed.count(), 2);
    assert.ok(!messagesFrankGot().some((text) => text.length > 100), 'frank got a long message');
    assert.deepEqual(sentTexts(last), [AFTER]);
    assert.equal(connections.length, settled);
  });

  await t.test('Retry sends only when asked, Discard removes the message', async () => {
    const tooLarge = failed.filter({ hasText: 'A long paste' });
    await tooLarge.getByRole('button', { name: 'Discard' }).click();
    await tooLarge.waitFor({ state: 'detached' });
    // The server refuses the retry again: the message is failed once more, with the connection intact.
    await failed.getByRole('button', { name: 'Retry' }).click();
    const last = connections.at(-1);
    await until(() => sentTexts(last).length === 2, 'the retry was not sent');
    await failed.getByTestId('message-error').filter({ hasText: /Text is longer than 2000 characters/ }).waitFor();
    await page.waitForTimeout(SETTLE_MS / 2);
    assert.deepEqual(sentTexts(last), [AFTER, TOO_LONG]);
    assert.equal(connections.at(-1), last);
    assert.equal(await failed.count(), 1);
  });

  await t.test('no page errors', () => {
    assert.deepEqual(erin.problems, []);
  });
});
