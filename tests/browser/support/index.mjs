// Everything a browser test needs. A test file is:
//
//   import { test } from 'node:test';
//   import { useTerminagent, visit, follow } from '../support/index.mjs';
//   const app = useTerminagent();            // own server + browser for this file
//   test('my page', async () => {
//     const page = await app.newPage();
//     await visit(page, '/my/page', { label: 'my page' });               // GET, status, axe
//     await follow(page, () => page.getByRole('button', { name: 'Senden' }).click(),
//       { label: 'my page sent', status: 201 });                          // navigation, status, axe
//   });
//
// visit() and follow() run axe-core (WCAG 2.1 AA, zero violations) on every
// page they land on; call expectNoAxeViolations(page, label) yourself after
// anything else that changes the page.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { expectNoAxeViolations } from './axe.mjs';
import { launchBrowser, newPage } from './browser.mjs';
import { startServer } from './server.mjs';

export { expectNoAxeViolations } from './axe.mjs';
export { launchBrowser, newPage } from './browser.mjs';
export { startServer, binaryPath } from './server.mjs';

/**
 * Starts a terminagent server and a chromium for the calling test file
 * (before its first test) and stops both after its last. `serverOptions`
 * go to startServer (e.g. { extraArgs: ['--confirm-ttl', '5s'] }).
 * Returns { server, browser, newPage(contextOptions) }.
 */
export function useTerminagent(serverOptions = {}) {
  let server;
  let browser;
  const contexts = [];
  before(async () => {
    server = await startServer(serverOptions);
    browser = await launchBrowser();
  });
  after(async () => {
    await Promise.all(contexts.map((context) => context.close().catch(() => {})));
    await browser?.close();
    await server?.stop();
  });
  return {
    get server() { return server; },
    get browser() { return browser; },
    /** A new page in a fresh browser context whose relative URLs go to the server. */
    async newPage(contextOptions = {}) {
      const page = await newPage(browser, server.baseUrl, contextOptions);
      contexts.push(page.context());
      return page;
    },
  };
}

/** Checks the page the browser is on: HTTP status, <h1> text, axe. */
async function expectPage(page, response, { label, status = 200, heading }) {
  assert.ok(response, `${label}: no response for ${page.url()}`);
  assert.equal(response.status(), status, `${label}: ${response.request().method()} ${page.url()} answered ${response.status()}, expected ${status}`);
  if (heading !== undefined) {
    const h1 = (await page.locator('h1').first().innerText()).trim();
    if (heading instanceof RegExp) assert.match(h1, heading, `${label}: heading`);
    else assert.ok(h1.includes(heading), `${label}: heading is "${h1}", expected it to contain "${heading}"`);
  }
  await expectNoAxeViolations(page, label);
  return response;
}

/**
 * Opens `path` (relative to the server, or a full URL), expects `status`
 * (default 200) and `heading` (substring or RegExp of the <h1>, optional),
 * and requires zero axe violations. Returns the response.
 */
export async function visit(page, path, { label = path, status = 200, heading } = {}) {
  const response = await page.goto(path);
  return expectPage(page, response, { label, status, heading });
}

/**
 * Runs `action` (a click, a key press) that navigates, waits for the new
 * page, then checks it as visit() does. Returns the response.
 */
export async function follow(page, action, { label, status = 200, heading } = {}) {
  assert.ok(label, 'follow() needs a label naming the page it lands on');
  const [response] = await Promise.all([page.waitForNavigation(), action()]);
  return expectPage(page, response, { label, status, heading });
}

/**
 * Presses Tab until the focused element matches `description` (its
 * accessible text, value or label contains it; a string or RegExp), at most
 * `maxPresses` times. For keyboard-only tests.
 */
export async function tabTo(page, description, { maxPresses = 60 } = {}) {
  const matches = (text) => (description instanceof RegExp ? description.test(text) : text.includes(description));
  const seen = [];
  for (let press = 0; press < maxPresses; press += 1) {
    await page.keyboard.press('Tab');
    const text = await page.evaluate(() => {
      const element = document.activeElement;
      if (!element || element === document.body) return '';
      const labels = element.labels ? [...element.labels].map((label) => label.innerText).join(' ') : '';
      const buttonValue = element.matches('input[type=submit], input[type=button]') ? element.value : '';
      const name = element.getAttribute('aria-label') || labels || element.innerText || buttonValue || '';
      return name.replace(/\s+/g, ' ').trim();
    });
    if (matches(text)) return;
    seen.push(text);
  }
  throw new Error(`Tab did not reach "${description}" within ${maxPresses} presses; focus went through: ${JSON.stringify(seen)}`);
}
