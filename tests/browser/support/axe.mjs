// axe-core, injected into the page under test, checking WCAG 2.1 A and AA.
// Zero violations are required; no rule is switched off.
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');

export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** Checks the page as it is now; throws listing each violation (rule id, help, element targets). */
export async function expectNoAxeViolations(page, label) {
  await maybeScreenshot(page, label);
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: AXE_PATH });
  }
  const results = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    WCAG_TAGS,
  );
  const violations = results.violations;
  if (violations.length === 0) return;
  const report = violations.map((violation) => {
    const nodes = violation.nodes
      .map((node) => `      ${JSON.stringify(node.target)} ${node.failureSummary ? `— ${node.failureSummary.replace(/\s*\n\s*/g, ' ')}` : ''}\n        ${node.html}`)
      .join('\n');
    return `  [${violation.impact}] ${violation.id}: ${violation.help}\n    ${violation.helpUrl}\n${nodes}`;
  });
  throw new Error(`axe: ${violations.length} WCAG 2.1 AA violation(s) on "${label}" (${page.url()}):\n${report.join('\n')}`);
}

/** With SCREENSHOT_DIR set, every checked page is also saved as a PNG there. */
async function maybeScreenshot(page, label) {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  const name = label.toLowerCase().replace(/[^a-z0-9äöüß]+/g, '-').replace(/^-|-$/g, '');
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
