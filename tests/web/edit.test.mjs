// Editing one's own messages in place, in headless chromium against a running server:
//
//   PARLEY_URL=http://127.0.0.1:8080 node --test edit.test.mjs   (from tests/web, after npm install)
//
// Environment: PARLEY_URL (required; skipped without it), PARLEY_NICK_SUFFIX, and
// CHROMIUM_PATH / ARTIFACTS_DIR (see browser.mjs).
//
// Skipped, saying so, when the server answers `edit` with `unknown_type` (a server from
// before message editing); against one that has it, every step runs.
//
// Ines edits a message of hers: the limits of the composer hold in the editor, Enter
// saves, and Otto sees the new text with "(edited)" in place of the old one; Escape
// throws an edit away unsent. After a reload both see it edited (from `joined`), Ines
// still may edit it and Otto still may not (he may edit his own). Last, Ines's page is
// told (by rewriting `welcome`) that the server takes longer texts than it does: the
// server's text_too_long then shows beside the message, with the editor still open.
//
// Selectors beyond those listed in e2e.test.mjs and limits.test.mjs:
//   data-testid="edit-message"     the Edit action on one's own messages within the edit window
//   data-testid="message-editor"   the inline editor in place of the text; in it
//     data-testid="edit-input" / "edit-save" / "edit-cancel" / "edit-problem"
//   data-testid="message-edited"   "(edited)" beside the time; its title says when
//   data-testid="edit-error"       beside a message: "Edit not saved. <reason>"

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STEP_TIMEOUT_MS, launchUser, messageTexts, openRoom, pickNickname, screenshot, waitForText,
} from './browser.mjs';
import { rawClient } from './raw_client.mjs';

const BASE_URL = process.env.PARLEY_URL?.replace(/\/+$/, '');
const SUFFIX = process.env.PARLEY_NICK_SUFFIX || '';
const INES = `ines${SUFFIX}`;
const OTTO = `otto${SUFFIX}`;
const PROBE = `edit-probe${SUFFIX}`;
// With the suffix, so that a re-run against the same server starts from an empty room.
const ROOM = `edits${SUFFIX}`;

const SKIP = BASE_URL
  ? false
  : 'PARLEY_URL is not set: start the example server and run e.g. PARLEY_URL=http://127.0.0.1:8080 npm test';

const ORIGINAL = 'Teh plan is ready';
const FIXED = 'The plan is ready';

let ines;
let otto;
// Every frame ines's page sends, on any of its sockets: what was (not) sent is checked here.
const sentByInes = [];

before(async () => {
  if (SKIP) return;
  ines = await launchUser('ines');
  otto = await launchUser('otto');
  ines.page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      try {
        sentByInes.push(JSON.parse(String(payload)));
      } catch {
        // not a frame of ours
      }
    });
  });
});

/** The `edit` frames ines's page has sent so far. */
const editsSent = () => sentByInes.filter((frame) => frame.type === 'edit');

/** Resolves once ines's page has sent a `send` of `text`, so that everything typed before it went out too. */
async function inesSent(text) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!sentByInes.some((frame) => frame.type === 'send' && frame.text === text)) {
    if (Date.now() > deadline) throw new Error(`ines's page never sent "${text}"`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

after(async () => {
  await ines?.close();
  await otto?.close();
});

/**
 * Whether the server knows the `edit` request. An `edit` of a room nobody joined is
 * refused either way; only a server without editing refuses it as `unknown_type`.
 */
async function serverEdits() {
  const probe = await rawClient(BASE_URL, PROBE);
  try {
    probe.send({ type: 'edit', room: 'no-such-room', seq: 1, text: 'x', ref: 1 });
    const reply = await probe.next((f) => f.type === 'error' && f.ref === 1);
    return reply.code !== 'unknown_type';
  } finally {
    probe.close();
  }
}

/** The `message` item of `page` whose text (or editor) belongs to the message Ines sent. */
function inesMessage(page) {
  return page.locator(`[data-testid="message"][data-from="${INES}"][data-state="sent"]`).first();
}

test('people edit their own messages in place', { skip: SKIP }, async (t) => {
  if (!(await serverEdits())) {
    t.skip('the server answers `edit` with unknown_type: it has no message editing yet');
    return;
  }

  await t.test(`ines and otto enter room "${ROOM}"; ines sends a message with a typo`, async () => {
    await ines.page.goto(BASE_URL);
    await pickNickname(ines, INES);
    await otto.page.goto(BASE_URL);
    await pickNickname(otto, OTTO);
    await openRoom(ines, ROOM);
    await openRoom(otto, ROOM);
    await ines.page.getByTestId('composer-input').fill(ORIGINAL);
    await ines.page.getByTestId('composer-input').press('Enter');
    await waitForText(otto.page.getByTestId('message-text'), new RegExp(`^${ORIGINAL}$`));
    await otto.page.getByTestId('composer-input').fill('Great, thanks');
    await otto.page.getByTestId('composer-input').press('Enter');
    await waitForText(ines.page.getByTestId('message-text'), /^Great, thanks$/);
  });

  await t.test('the editor keeps to the composer\'s limits: an over-long edit is refused beside it, unsent', async () => {
    const message = inesMessage(ines.page);
    await message.hover();
    await message.getByTestId('edit-message').click();
    const input = message.getByTestId('edit-input');
    assert.equal(await input.inputValue(), ORIGINAL);
    await input.fill('x'.repeat(2001));
    await waitForText(message.getByTestId('edit-problem'), /2,001 characters long; the limit is 2,000/);
    await input.press('Enter');
    // Still open, with the text to shorten; no frame left the page.
    assert.equal((await input.inputValue()).length, 2001);
    await screenshot(ines, 'edit-01-too-long');
    await ines.page.getByTestId('composer-input').fill('checking');
    await ines.page.getByTestId('composer-input').press('Enter');
    await inesSent('checking');
    assert.deepEqual(editsSent(), []);
  });

  await t.test('Enter saves: both see the new text in place, marked "(edited)" with its time', async () => {
    const message = inesMessage(ines.page);
    await message.hover();
    await message.getByTestId('edit-input').fill(FIXED);
    await message.getByTestId('edit-input').press('Enter');
    await message.getByTestId('message-editor').waitFor({ state: 'detached' });
    await waitForText(message.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
    await message.getByTestId('message-edited').waitFor();

    const seen = inesMessage(otto.page);
    await waitForText(seen.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
    await waitForText(seen.getByTestId('message-edited'), /\(edited\)/);
    assert.match(await seen.getByTestId('message-edited').getAttribute('title'), /^Edited \S/);
    const texts = await messageTexts(otto.page);
    assert.equal(texts.filter((text) => text === FIXED).length, 1);
    assert.equal(texts.filter((text) => text === ORIGINAL).length, 0);
    await screenshot(otto, 'edit-02-edited');
  });

  await t.test('otto has no Edit action on ines\'s message, only on his own', async () => {
    const theirs = inesMessage(otto.page);
    await theirs.hover();
    assert.equal(await theirs.getByTestId('edit-message').count(), 0);
    const own = otto.page.locator(`[data-testid="message"][data-from="${OTTO}"][data-state="sent"]`).first();
    await own.hover();
    await own.getByTestId('edit-message').waitFor();
  });

  await t.test('Escape throws an edit away: nothing changes for anyone', async () => {
    const message = inesMessage(ines.page);
    await message.hover();
    await message.getByTestId('edit-message').click();
    await message.getByTestId('edit-input').fill('Never mind');
    await message.getByTestId('edit-input').press('Escape');
    await message.getByTestId('message-editor').waitFor({ state: 'detached' });
    await waitForText(message.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
    // The Escape left focus on the Edit action, for the keyboard user.
    assert.equal(await ines.page.evaluate(() => document.activeElement?.dataset.testid), 'edit-message');
    // Frames go out in order: once the next message is sent, an edit sent on Escape would show.
    await ines.page.getByTestId('composer-input').fill('one more thing');
    await ines.page.getByTestId('composer-input').press('Enter');
    await inesSent('one more thing');
    assert.deepEqual(editsSent().map((frame) => frame.text), [FIXED]);
    await waitForText(otto.page.getByTestId('message-text'), /^one more thing$/);
    assert.deepEqual((await messageTexts(otto.page)).filter((text) => text === 'Never mind'), []);
  });

  await t.test('after a reload the history shows it edited; who may edit it is unchanged', async () => {
    for (const user of [otto, ines]) {
      await user.page.reload();
      await user.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
      await waitForText(user.page.getByTestId('room-title'), ROOM);
      const message = inesMessage(user.page);
      await waitForText(message.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
      await message.getByTestId('message-edited').waitFor();
      await message.hover();
    }
    assert.equal(await inesMessage(otto.page).getByTestId('edit-message').count(), 0);
    await inesMessage(ines.page).getByTestId('edit-message').waitFor();
    await screenshot(otto, 'edit-03-after-reload');
  });

  await t.test('a refusal by the server shows beside the message, and the editor stays open to fix it', async () => {
    const { page } = ines;
    // Tell the page the server takes far longer texts than it does, so that the
    // edit reaches the server and its text_too_long is what is shown.
    await page.routeWebSocket(/\/ws$/, (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        const frame = JSON.parse(String(message));
        if (frame.type !== 'welcome') return socket.send(message);
        frame.limits = { ...frame.limits, max_text_chars: 1_000_000 };
        return socket.send(JSON.stringify(frame));
      });
      server.onClose((code, reason) => socket.close({ code, reason }));
    });
    await page.reload();
    await page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
    const message = inesMessage(page);
    await waitForText(message.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
    await message.hover();
    await message.getByTestId('edit-message').click();
    const tooLong = 'Two thousand and more. '.repeat(120);  // 2 760 characters, a frame under 16 KiB
    await message.getByTestId('edit-input').fill(tooLong);
    await message.getByTestId('edit-input').press('Enter');
    await waitForText(message.getByTestId('edit-error'), /^Edit not saved\. \S/);
    assert.equal(await message.getByTestId('edit-input').inputValue(), tooLong);
    assert.equal(await message.getByTestId('edit-input').isEnabled(), true);
    await screenshot(ines, 'edit-04-refused');
    await message.getByTestId('edit-input').press('Escape');
    await message.getByTestId('edit-error').waitFor({ state: 'detached' });
    await waitForText(message.getByTestId('message-text'), new RegExp(`^${FIXED}$`));
    await waitForText(inesMessage(otto.page).getByTestId('message-text'), new RegExp(`^${FIXED}$`));
  });

  await t.test('no page errors and no Content-Security-Policy violations', () => {
    assert.deepEqual(ines.problems, []);
    assert.deepEqual(otto.problems, []);
  });
});
