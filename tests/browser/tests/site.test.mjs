// The office pages and the legal pages (Impressum, Datenschutz,
// Barrierefreiheit) of a `--demo` installation without a site file: every
// one through axe, the footer's links on each, the office choice leading to
// the office page, an unknown office the German 404 page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

async function footerLinks(page) {
  const footer = page.getByRole('contentinfo');
  return Promise.all(['Impressum', 'Datenschutz', 'Barrierefreiheit'].map(
    (name) => footer.getByRole('link', { name }).getAttribute('href'),
  ));
}

test('the office list leads to an office page with hours and what to bring', async () => {
  const page = await app.newPage();
  await visit(page, '/standorte', { label: 'offices', heading: 'Standorte und Öffnungszeiten' });
  assert.deepEqual(await footerLinks(page), ['/impressum', '/datenschutz', '/barrierefreiheit']);
  await follow(page, () => page.getByRole('link', { name: 'Bürger-Service-Station Stadtmitte' }).click(),
    { label: 'office Stadtmitte', heading: 'Bürger-Service-Station Stadtmitte' });
  await page.getByRole('cell', { name: '08:00–16:00 Uhr' }).first().waitFor();
  await page.getByRole('heading', { name: 'Was Sie mitbringen müssen' }).waitFor();
  await page.getByText('ein aktuelles biometrisches Passfoto').first().waitFor();
  await follow(page, () => page.getByRole('link', { name: 'Alle Standorte' }).click(), { label: 'offices again' });
});

test('the booking flow\'s office choice links to the office page', async () => {
  const page = await app.newPage();
  await visit(page, '/termin/standort?services=personalausweis', { label: 'choose office (links)' });
  await follow(page, () => page.getByRole('link', { name: /^Öffnungszeiten und was Sie mitbringen müssen\s+– Bürger-Service-Station Hamborn$/ }).click(),
    { label: 'office Hamborn', heading: 'Bürger-Service-Station Hamborn' });
});

test('the legal pages of the demo say what they are', async () => {
  const page = await app.newPage();
  await visit(page, '/', { label: 'start (footer)' });
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Impressum' }).click(),
    { label: 'impressum (demo)', heading: 'Impressum' });
  await page.getByText('Dies ist eine Demonstration').first().waitFor();
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Datenschutz' }).click(),
    { label: 'datenschutz (demo)', heading: 'Datenschutzerklärung' });
  await follow(page, () => page.getByRole('contentinfo').getByRole('link', { name: 'Barrierefreiheit' }).click(),
    { label: 'barrierefreiheit (demo)', heading: 'Erklärung zur Barrierefreiheit' });
  for (const heading of ['Stand der Vereinbarkeit mit den Anforderungen', 'Nicht barrierefreie Inhalte',
    'Feedback und Kontaktangaben', 'Durchsetzungsverfahren (Schlichtungsstelle)']) {
    await page.getByRole('heading', { name: heading }).waitFor();
  }
});

test('an unknown office is the German 404 page', async () => {
  const page = await app.newPage();
  await visit(page, '/standorte/atlantis', { label: 'unknown office page', status: 404, heading: 'Seite nicht gefunden' });
  assert.deepEqual(await footerLinks(page), ['/impressum', '/datenschutz', '/barrierefreiheit']);
});
