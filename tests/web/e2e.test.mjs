// End-to-end test of the browser app in web/ against a running parley server.
//
//   PARLEY_URL=http://127.0.0.1:8080 npm test        (from tests/web, after npm install)
//
// Environment:
//   PARLEY_URL          base URL of a running server (required; the test is skipped without it)
//   CHROMIUM_PATH, ARTIFACTS_DIR  see browser.mjs
//   PARLEY_NICK_SUFFIX  appended to alice/bob/carol, for re-runs while a server still holds
//                       the nicks of the previous run for reclaiming
//
// Two browsers (each a persistent context on its own fresh temporary profile) play alice and
// bob; a raw WebSocket client (the `ws` package) plays carol, whose joining, markup message and
// leaving the browsers must show.
//
// Stable selectors the test relies on (keep them when changing web/index.html or the views):
//   data-testid="nickname-input" / "nickname-submit" / "nickname-error"   nickname screen
//   data-testid="connection-status"  with data-state = idle|connecting|online|reconnecting|offline
//   data-testid="current-nick"       the signed-in nickname in the top bar
//   data-testid="room-list"          with data-loaded="true" once a lobby snapshot arrived
//   data-testid="room-item"          one button per room, data-room-name / data-room-id / data-members
//   data-testid="create-room-input" / "create-room-submit" / "create-room-error"
//   data-testid="room-title"         "# <room name>" of the open room
//   data-testid="messages"           the timeline list; in it
//     data-testid="message"          data-state = sent|pending|failed|deleted, data-from, data-seq
//     data-testid="message-text"     the text ("message deleted" for a tombstone)
//     data-testid="notice"           "bob joined", "bob left", warnings
//     data-testid="delete-message"   on one's own messages
//   data-testid="typing-indicator"   "alice is typing…"
//   data-testid="composer-input" / "composer-send"
//   data-testid="member-list"        with data-testid="member" data-nick=... items; the DM button
//                                    of another member has the accessible name "Send a direct message to <nick>"
//   data-testid="leave-room"
//   data-testid="search-input" / "search-submit" / "search-status" / "search-close"; results are
//     data-testid="search-result" (data-seq) with "search-result-text", in "search-results"
//   data-testid="dm-thread" (data-peer), "dm-peer", "dm-messages", "dm-message", "dm-input", "dm-send"

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STEP_TIMEOUT_MS, launchUser, messageTexts, openRoom, pickNickname, screenshot, waitForText,
} from './browser.mjs';
import { rawClient } from './raw_client.mjs';

const BASE_URL = process.env.PARLEY_URL?.replace(/\/+$/, '');
const SUFFIX = process.env.PARLEY_NICK_SUFFIX || '';
const ALICE = `alice${SUFFIX}`;
const BOB = `bob${SUFFIX}`;
const CAROL = `carol${SUFFIX}`;
const ROOM = 'general';

const SKIP = BASE_URL
  ? false
  : 'PARLEY_URL is not set: start the example server and run e.g. PARLEY_URL=http://127.0.0.1:8080 npm test';

let alice;
let bob;

before(async () => {
  if (SKIP) return;
  alice = await launchUser('alice');
  bob = await launchUser('bob');
});

after(async () => {
  await alice?.close();
  await bob?.close();
});

test('two people chat in the browser app', { skip: SKIP }, async (t) => {
  await t.test('alice picks a nickname', async () => {
    await alice.page.goto(BASE_URL);
    await alice.page.getByTestId('nickname-input').waitFor();
    await screenshot(alice, '01-nickname-screen');
    await pickNickname(alice, ALICE);
  });

  await t.test('bob is told inline that alice\'s nickname is taken, then picks his own', async () => {
    await bob.page.goto(BASE_URL);
    await bob.page.getByTestId('nickname-input').fill(ALICE);
    await bob.page.getByTestId('nickname-submit').click();
    await waitForText(bob.page.getByTestId('nickname-error'), /taken/i);
    await screenshot(bob, '02-nickname-taken');
    await pickNickname(bob, BOB);
  });

  await t.test(`both enter room "${ROOM}" and see each other`, async () => {
    await openRoom(alice, ROOM);
    await openRoom(bob, ROOM);
    await waitForText(alice.page.getByTestId('notice'), new RegExp(`${BOB} joined`));
    await alice.page.locator(`[data-testid="member"][data-nick="${BOB}"]`).waitFor();
    await bob.page.locator(`[data-testid="member"][data-nick="${ALICE}"]`).waitFor();
  });

  await t.test('bob sees that alice is typing', async () => {
    await alice.page.getByTestId('composer-input').pressSequentially('Hello bob', { delay: 30 });
    await waitForText(bob.page.getByTestId('typing-indicator'), new RegExp(`${ALICE} is typing`));
    await screenshot(bob, '03-typing');
  });

  await t.test('alice\'s message reaches bob, and alice sees it exactly once', async () => {
    await alice.page.getByTestId('composer-input').press('Enter');
    await waitForText(bob.page.getByTestId('message-text'), /^Hello bob$/);
    await alice.page.locator('[data-testid="message"][data-state="sent"]', { hasText: 'Hello bob' }).waitFor();
    assert.equal((await messageTexts(alice.page)).filter((text) => text === 'Hello bob').length, 1);
    assert.equal((await messageTexts(bob.page)).filter((text) => text === 'Hello bob').length, 1);
    // A message ends its sender's typing indicator.
    await bob.page.waitForFunction(
      () => document.querySelector('[data-testid="typing-indicator"]').textContent === '',
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
  });

  await t.test('bob replies and alice sees it', async () => {
    await bob.page.getByTestId('composer-input').fill('Hi alice, good to see you');
    await bob.page.getByTestId('composer-send').click();
    await waitForText(alice.page.getByTestId('message-text'), /^Hi alice, good to see you$/);
    await screenshot(alice, '04-conversation');
  });

  await t.test('alice searches the room and finds bob\'s reply', async () => {
    const { page } = alice;
    await page.getByTestId('search-input').fill('good to');
    await page.getByTestId('search-submit').click();
    await waitForText(page.getByTestId('search-result-text'), /^Hi alice, good to see you$/);
    assert.match(await page.getByTestId('search-status').textContent(), /^1 message matches/);
    await screenshot(alice, '04-search');
    await page.getByTestId('search-input').fill('nothingmatchesthis');
    await page.getByTestId('search-submit').click();
    await waitForText(page.getByTestId('search-status'), /No messages match/);
    await page.getByTestId('search-close').click();
    await page.locator('[data-testid="search-results"][hidden]').waitFor({ state: 'attached' });
  });

  await t.test('a third person joins, posts markup that shows as plain text, and leaves', async () => {
    const carol = await rawClient(BASE_URL, CAROL);
    try {
      const roomId = await alice.page.locator(`[data-testid="room-item"][data-room-name="${ROOM}"]`).getAttribute('data-room-id');
      carol.send({ type: 'join', room: roomId });
      await carol.next((f) => f.type === 'joined');
      await waitForText(bob.page.getByTestId('notice'), new RegExp(`${CAROL} joined`));
      const markup = '<img src=x data-e2e-injected> <b>not bold</b>';
      carol.send({ type: 'send', room: roomId, text: markup, client_id: 'e2e-carol-1' });
      await waitForText(alice.page.getByTestId('message-text'), 'not bold</b>');
      assert.equal(await alice.page.locator('[data-e2e-injected], [data-testid="messages"] b').count(), 0);
      carol.send({ type: 'leave', room: roomId });
      await carol.next((f) => f.type === 'left');
    } finally {
      carol.close();
    }
    await waitForText(alice.page.getByTestId('notice'), new RegExp(`${CAROL} left`));
    await waitForText(bob.page.getByTestId('notice'), new RegExp(`${CAROL} left`));
  });

  await t.test('bob reloads the page and gets his nickname, room and history back', async () => {
    await bob.page.reload();
    await waitForText(bob.page.getByTestId('current-nick'), new RegExp(`^${BOB}$`));
    await bob.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
    await waitForText(bob.page.getByTestId('room-title'), ROOM);
    await waitForText(bob.page.getByTestId('message-text'), /^Hello bob$/);
    await waitForText(bob.page.getByTestId('message-text'), /^Hi alice, good to see you$/);
    await screenshot(bob, '05-after-reload');
  });

  await t.test('the room works at phone width (360 px)', async () => {
    await bob.page.setViewportSize({ width: 360, height: 740 });
    await bob.page.getByTestId('composer-input').waitFor();
    const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the viewport`);
    await screenshot(bob, '06-phone-width', { fullPage: true });
    await bob.page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.test('alice sends bob a direct message from the member list', async () => {
    await alice.page.getByRole('button', { name: `Send a direct message to ${BOB}` }).click();
    await alice.page.getByTestId('dm-input').fill('Psst, just for you');
    await alice.page.getByTestId('dm-send').click();
    await alice.page.locator('[data-testid="dm-message"][data-state="sent"]', { hasText: 'Psst, just for you' }).waitFor();
    await bob.page.locator(`[data-testid="dm-thread"][data-peer="${ALICE}"]`).click();
    await waitForText(bob.page.getByTestId('dm-messages'), 'Psst, just for you');
    await screenshot(bob, '07-direct-message');
  });

  await t.test('alice deletes her message and both see a tombstone', async () => {
    const own = alice.page.locator('[data-testid="message"][data-state="sent"]', { hasText: 'Hello bob' });
    await own.hover();
    await own.getByTestId('delete-message').click();
    await alice.page.locator('[data-testid="message"][data-state="deleted"]').first().waitFor();
    await waitForText(bob.page.locator('[data-testid="message"][data-state="deleted"]'), 'message deleted');
    assert.equal((await messageTexts(bob.page)).filter((text) => text === 'Hello bob').length, 0);
  });

  await t.test('bob leaves the room and alice sees him go', async () => {
    // The reload above may already have produced a "bob left" (the old socket closed): wait for a new one.
    const leftNotices = alice.page.getByTestId('notice').filter({ hasText: new RegExp(`${BOB} left`) });
    const before = await leftNotices.count();
    await bob.page.getByTestId('leave-room').click();
    await leftNotices.nth(before).waitFor();
    await alice.page.locator(`[data-testid="member"][data-nick="${BOB}"]`).waitFor({ state: 'detached' });
    await screenshot(alice, '08-bob-left');
  });

  await t.test('no page errors and no Content-Security-Policy violations', () => {
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
