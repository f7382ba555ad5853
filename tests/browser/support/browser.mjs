// Debian's chromium (apt package `chromium`), driven by playwright-core: no
// browser download. One browser per test file; one context per test.
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A fresh page in its own context (own cookies). The pages send a strict
 * Content-Security-Policy (no scripts); bypassCSP lets axe-core be injected.
 */
export async function newPage(browser, baseUrl, contextOptions = {}) {
  const context = await browser.newContext({
    baseURL: baseUrl,
    bypassCSP: true,
    locale: 'de-DE',
    viewport: { width: 1024, height: 768 },
    ...contextOptions,
  });
  context.setDefaultTimeout(10_000);
  return context.newPage();
}
