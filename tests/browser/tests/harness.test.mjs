// The harness checks itself: axe must report a page that breaks WCAG, so a
// green run means the citizen pages passed, not that axe never ran.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { expectNoAxeViolations, launchBrowser } from '../support/index.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('expectNoAxeViolations fails on a page with an unlabelled field and names rule and element', async () => {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><html lang="de"><title>Kaputt</title><main><h1>Kaputt</h1><input type="text" id="ohne-label"></main></html>');
  await assert.rejects(expectNoAxeViolations(page, 'broken page'), (error) => {
    assert.match(error.message, /broken page/);
    assert.match(error.message, /\blabel\b/);
    assert.match(error.message, /#ohne-label/);
    return true;
  });
  await page.close();
});
