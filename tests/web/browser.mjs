// Browser helpers shared by the end-to-end tests: Debian's chromium driven by
// playwright-core (never a downloaded browser), one fresh profile per user.
//
// Environment:
//   CHROMIUM_PATH   browser binary (default /usr/bin/chromium, Debian's package `chromium`)
//   ARTIFACTS_DIR   where screenshots go (default tests/web/artifacts)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve(process.env.ARTIFACTS_DIR || path.join(HERE, 'artifacts'));
// Long enough for a slow CI machine, short enough that a hang fails in reasonable time.
export const STEP_TIMEOUT_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** One browser user: its own chromium on a fresh profile, and the problems its page reported. */
export async function launchUser(name, viewport = { width: 1280, height: 800 }) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `parley-e2e-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    // A CSP violation (inline script or style, external resource) is reported on the console.
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) {
      problems.push(`csp: ${message.text()}`);
    }
  });
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return {
    name,
    page,
    problems,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(user, step, options = {}) {
  const file = path.join(ARTIFACTS_DIR, `${step}-${user.name}.png`);
  await user.page.screenshot({ path: file, ...options });
  return file;
}

/** Waits until the element(s) behind `locator` contain text matching `pattern`. */
export function waitForText(locator, pattern) {
  return locator.filter({ hasText: pattern }).first().waitFor();
}

export function messageTexts(page) {
  return page.getByTestId('messages').getByTestId('message-text').allTextContents();
}

export async function pickNickname(user, nick) {
  const { page } = user;
  await page.getByTestId('nickname-input').fill(nick);
  await page.getByTestId('nickname-submit').click();
  await waitForText(page.getByTestId('current-nick'), new RegExp(`^${nick}$`));
  await page.locator('[data-testid="connection-status"][data-state="online"]').waitFor();
}

export async function openRoom(user, name) {
  const { page } = user;
  await page.locator('[data-testid="room-list"][data-loaded="true"]').waitFor();
  const item = page.locator(`[data-testid="room-item"][data-room-name="${name}"]`);
  if ((await item.count()) === 0) {
    await page.getByTestId('create-room-input').fill(name);
    await page.getByTestId('create-room-submit').click();
    // Creating opens the room; if someone else created it first, join theirs.
    await Promise.race([
      waitForText(page.getByTestId('room-title'), name),
      item.waitFor().then(() => item.click()),
    ]);
  } else {
    await item.click();
  }
  await waitForText(page.getByTestId('room-title'), name);
}

