// Pages a citizen lands on by a wrong address, an old link or a broken one.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

test('an unknown address shows the 404 page with a way back', async () => {
  const page = await app.newPage();
  await visit(page, '/gibt-es-nicht', { label: '404 page', status: 404, heading: 'Seite nicht gefunden' });
  assert.equal(await page.getByRole('link', { name: 'Zur Startseite' }).getAttribute('href'), '/');
});

test('an unknown mail link shows its own 404 page', async () => {
  const page = await app.newPage();
  await visit(page, `/links/${'A'.repeat(43)}`, { label: 'unknown link', status: 404, heading: 'Link unbekannt' });
});

test('a booking step naming an office that does not exist says so', async () => {
  const page = await app.newPage();
  await visit(page, '/termin/tag?services=personalausweis&office=atlantis',
    { label: 'unknown office', status: 404, heading: 'Dieses Bürgerbüro gibt es nicht' });
});
