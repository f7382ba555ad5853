// An installation with its own site file (--site-config): the city's name,
// logo and colours, and legal texts kept in the file, on every page type;
// axe checks each with the configured colours.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'terminagent-site-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'wappen.svg'),
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="48"><path d="M0 0h40v30L20 48 0 30z" fill="#7a1f3d"/></svg>');
writeFileSync(path.join(dir, 'site.toml'), `
city = "Stadt Beispielhausen"

[logo]
file = "wappen.svg"
alt = "Wappen der Stadt Beispielhausen"

[colours]
primary = "#0b4f6c"
accent = "#7a1f3d"

[impressum]
text = """
Stadt Beispielhausen
Rathausplatz 1
12345 Beispielhausen

Vertreten durch den Bürgermeister <Max Muster>.
"""

[datenschutz]
text = "Wir verarbeiten Ihre Angaben nur, um Ihren Termin zu vergeben."

[barrierefreiheit]
stand = "teilweise"
nicht_barrierefreie_inhalte = "Die PDF-Formulare sind noch nicht barrierefrei."
erstellt_am = 2026-11-30
feedback = """
Bürgerservice Beispielhausen
barrierefreiheit@beispielhausen.example
"""
durchsetzungsverfahren = "Ombudsstelle für barrierefreie Informationstechnik des Landes"
`);

const app = useTerminagent({ extraArgs: ['--site-config', path.join(dir, 'site.toml')] });

test('every page type carries the city, its logo and colours', async () => {
  const page = await app.newPage();
  for (const [url, label, status] of [
    ['/', 'start (city)', 200],
    ['/termin', 'services (city)', 200],
    ['/termin/standort?services=personalausweis', 'offices to choose (city)', 200],
    ['/suche', 'wish (city)', 200],
    ['/standorte', 'offices (city)', 200],
    ['/standorte/stadtmitte', 'office (city)', 200],
    ['/gibt-es-nicht', '404 (city)', 404],
  ]) {
    await visit(page, url, { label, status });
    assert.match(await page.title(), / – Terminvergabe Stadt Beispielhausen$/, label);
    await page.getByRole('banner').getByRole('img', { name: 'Wappen der Stadt Beispielhausen' }).waitFor();
    const primary = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--primary').trim());
    assert.equal(primary, '#0b4f6c', label);
  }
});

test('the legal texts from the file, escaped, in the usual order', async () => {
  const page = await app.newPage();
  await visit(page, '/', { label: 'start (legal)' });
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Impressum' }).click(),
    { label: 'impressum (file)', heading: 'Impressum' });
  await page.getByText('Vertreten durch den Bürgermeister <Max Muster>.').waitFor();
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Datenschutz' }).click(),
    { label: 'datenschutz (file)', heading: 'Datenschutzerklärung' });
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Barrierefreiheit' }).click(),
    { label: 'barrierefreiheit (file)', heading: 'Erklärung zur Barrierefreiheit' });
  const headings = await page.getByRole('heading', { level: 2 }).allInnerTexts();
  assert.deepEqual(headings, ['Stand der Vereinbarkeit mit den Anforderungen', 'Nicht barrierefreie Inhalte',
    'Erstellung dieser Erklärung', 'Feedback und Kontaktangaben', 'Durchsetzungsverfahren (Schlichtungsstelle)']);
  await page.getByText('am 30.11.2026 erstellt').waitFor();
});
