// Reactions to messages, in headless chromium against a running server:
//
//   PARLEY_URL=http://127.0.0.1:8080 node --test reactions.test.mjs   (from tests/web, after npm install)
//
// Environment: PARLEY_URL (required; skipped without it), PARLEY_NICK_SUFFIX, and
// CHROMIUM_PATH / ARTIFACTS_DIR (see browser.mjs).
//
// Skipped, saying so, when the server answers `react` with `unknown_type` (a server from
// before reactions); against one that has it, every step runs.
//
// Ada reacts 👍 to Bo's message from the picker: Bo sees 👍 1. Bo adds his: both see 2,
// each highlighted as their own. Ada takes hers away: both see 1, highlighted for Bo only.
// A typed emoji is checked before it is sent, then added. After a reload both see the
// counts, and which ones are theirs, again (from `joined`).
//
// Selectors beyond those listed in e2e.test.mjs and edit.test.mjs:
//   data-testid="reactions"         the row under a message; in it
//     data-testid="reaction"        one chip, data-emoji, data-mine="true|false", aria-pressed
//     data-testid="reaction-count"  its count
//     data-testid="add-reaction"    opens the picker
//   data-testid="reaction-picker"   the picker; in it
//     data-testid="reaction-choice" (data-emoji), "reaction-input", "reaction-submit", "reaction-problem"
//   data-testid="reaction-error"    beside a message: "Reaction not saved. <reason>"

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STEP_TIMEOUT_MS, launchUser, openRoom, pickNickname, screenshot, waitForText,
} from './browser.mjs';
import { rawClient } from './raw_client.mjs';

const BASE_URL = process.env.PARLEY_URL?.replace(/\/+$/, '');
const SUFFIX = process.env.PARLEY_NICK_SUFFIX || '';
const ADA = `ada${SUFFIX}`;
const BO = `bo${SUFFIX}`;
const PROBE = `react-probe${SUFFIX}`;
const ROOM = `reactions${SUFFIX}`;

const SKIP = BASE_URL
  ? false
  : 'PARLEY_URL is not set: start the example server and run e.g. PARLEY_URL=http://127.0.0.1:8080 npm test';

const QUESTION = 'Lunch at noon?';
const OWL = '🦉';

let ada;
let bo;
// Every frame ada's page sends, on any of its sockets.
const sentByAda = [];

before(async () => {
  if (SKIP) return;
  ada = await launchUser('ada');
  bo = await launchUser('bo');
  ada.page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      try {
        sentByAda.push(JSON.parse(String(payload)));
      } catch {
        // not a frame of ours
      }
    });
  });
});

after(async () => {
  await ada?.close();
  await bo?.close();
});

/** Whether the server knows `react`: a react in a room nobody joined is refused either way. */
async function serverReacts() {
  const probe = await rawClient(BASE_URL, PROBE);
  try {
    probe.send({ type: 'react', room: 'no-such-room', seq: 1, emoji: '👍', on: true, ref: 1 });
    const reply = await probe.next((f) => f.type === 'error' && f.ref === 1);
    return reply.code !== 'unknown_type';
  } finally {
    probe.close();
  }
}

const reactsSent = () => sentByAda.filter((frame) => frame.type === 'react');

/** Resolves once ada's page has sent a `send` of `text` (frames go out in order). */
async function adaSent(text) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!sentByAda.some((frame) => frame.type === 'send' && frame.text === text)) {
    if (Date.now() > deadline) throw new Error(`ada's page never sent "${text}"`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function question(page) {
  return page.locator(`[data-testid="message"][data-from="${BO}"][data-state="sent"]`).filter({ hasText: QUESTION }).first();
}

function chip(page, emoji) {
  return question(page).locator(`[data-testid="reaction"][data-emoji="${emoji}"]`);
}

/** Waits until `page` shows `emoji` with `count` on the question, ours or not as `mine` says. */
async function expectChip(page, emoji, count, mine) {
  const wanted = chip(page, emoji).and(page.locator(`[data-mine="${mine}"]`));
  await waitForText(wanted.getByTestId('reaction-count'), new RegExp(`^${count}$`));
  assert.equal(await chip(page, emoji).getAttribute('aria-pressed'), String(mine));
}

async function expectNoChip(page, emoji) {
  await chip(page, emoji).waitFor({ state: 'detached' });
}

async function openPicker(page) {
  const message = question(page);
  await message.hover();
  await message.getByTestId('add-reaction').click();
  await message.getByTestId('reaction-picker').waitFor();
  return message;
}

test('people react to messages and see each other\'s reactions live', { skip: SKIP }, async (t) => {
  if (!(await serverReacts())) {
    t.skip('the server answers `react` with unknown_type: it has no reactions yet');
    return;
  }

  await t.test(`ada and bo enter room "${ROOM}"; bo asks a question`, async () => {
    await ada.page.goto(BASE_URL);
    await pickNickname(ada, ADA);
    await bo.page.goto(BASE_URL);
    await pickNickname(bo, BO);
    await openRoom(ada, ROOM);
    await openRoom(bo, ROOM);
    await bo.page.getByTestId('composer-input').fill(QUESTION);
    await bo.page.getByTestId('composer-input').press('Enter');
    await question(ada.page).waitFor();
  });

  await t.test('ada picks 👍: bo sees 👍 1, highlighted for ada only', async () => {
    const message = await openPicker(ada.page);
    await message.locator('[data-testid="reaction-choice"][data-emoji="👍"]').click();
    await message.getByTestId('reaction-picker').waitFor({ state: 'detached' });
    await expectChip(bo.page, '👍', 1, false);
    await expectChip(ada.page, '👍', 1, true);
    await screenshot(bo, 'reactions-01-one');
  });

  await t.test('bo adds his 👍 with a click on the chip: both see 2, each highlighted as their own', async () => {
    await chip(bo.page, '👍').click();
    await expectChip(bo.page, '👍', 2, true);
    await expectChip(ada.page, '👍', 2, true);
  });

  await t.test('ada takes hers away: both see 1, highlighted for bo only', async () => {
    await chip(ada.page, '👍').click();
    await expectChip(ada.page, '👍', 1, false);
    await expectChip(bo.page, '👍', 1, true);
    assert.deepEqual(reactsSent().map((frame) => [frame.emoji, frame.on]), [['👍', true], ['👍', false]]);
    await screenshot(ada, 'reactions-02-taken-away');
  });

  await t.test('a typed reaction is checked before it is sent, then added for both', async () => {
    const message = await openPicker(ada.page);
    const input = message.getByTestId('reaction-input');
    await input.fill('no way');
    await waitForText(message.getByTestId('reaction-problem'), /without spaces/);
    await input.press('Enter');
    await input.fill('🎉'.repeat(9));
    await waitForText(message.getByTestId('reaction-problem'), /36 bytes; the server accepts at most 32/);
    await message.getByTestId('reaction-submit').click();
    // Frames go out in order: once the next message is sent, a refused react would show.
    await ada.page.getByTestId('composer-input').fill('sounds good');
    await ada.page.getByTestId('composer-input').press('Enter');
    await adaSent('sounds good');
    assert.equal(reactsSent().length, 2);
    // The refusal kept the picker open, with the text to fix.
    await input.fill(OWL);
    await input.press('Enter');
    await expectChip(bo.page, OWL, 1, false);
    await expectChip(ada.page, OWL, 1, true);
  });

  await t.test('after a reload the counts and which ones are ours come back from history', async () => {
    for (const user of [ada, bo]) {
      await user.page.reload();
      await user.page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
      await waitForText(user.page.getByTestId('room-title'), ROOM);
      await question(user.page).waitFor();
    }
    await expectChip(ada.page, '👍', 1, false);
    await expectChip(ada.page, OWL, 1, true);
    await expectChip(bo.page, '👍', 1, true);
    await expectChip(bo.page, OWL, 1, false);
    assert.deepEqual(
      await question(bo.page).getByTestId('reaction').evaluateAll((chips) => chips.map((c) => c.dataset.emoji)),
      ['👍', OWL],
      'in order of first use',
    );
    await screenshot(bo, 'reactions-03-after-reload');
  });

  await t.test('bo takes his 👍 away: the chip goes for both', async () => {
    await chip(bo.page, '👍').click();
    await expectNoChip(bo.page, '👍');
    await expectNoChip(ada.page, '👍');
  });

  await t.test('no page errors and no Content-Security-Policy violations', () => {
    assert.deepEqual(ada.problems, []);
    assert.deepEqual(bo.problems, []);
  });
});
