// A wish ("Terminsuche") registered through /suche, confirmed through the
// link of its confirm-request mail (double opt-in), and the links of its mails.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

/** Presses the confirm link of the wish's confirm-request mail: only then does it wait. */
async function confirmWish(page, email, label) {
  const request = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen Sie Ihre Terminsuche' });
  assert.match(request.text, /Erst mit Ihrer Bestätigung ist die Suche eingereiht/);
  await visit(page, request.link('Terminsuche bestätigen'), { label: `confirm-wish link (${label})`, heading: 'Terminsuche bestätigen?' });
  await follow(page, () => page.getByRole('button', { name: 'Terminsuche bestätigen' }).click(),
    { label: `confirm-wish link pressed (${label})`, heading: 'Ihre Terminsuche ist bestätigt und eingereiht' });
}

test('registers a wish through /suche, then ends it through the mail link', async () => {
  const page = await app.newPage();
  const email = 'wunsch.ende@example.org';

  await visit(page, '/', { label: 'start (wish)' });
  await follow(page, () => page.getByRole('link', { name: 'Terminsuche eintragen' }).click(),
    { label: 'wish form', heading: 'Terminsuche eintragen' });

  // Sent empty: every missing part is named, at its field and on top.
  await follow(page, () => page.getByRole('button', { name: 'Terminsuche eintragen' }).click(),
    { label: 'wish form with errors', status: 422, heading: 'Terminsuche eintragen' });
  const summary = await page.getByRole('alert').innerText();
  for (const expected of [/Anliegen/, /Bürgerbüro/, /Stunde/, /Namen/, /E-Mail-Adresse/]) {
    assert.match(summary, expected);
  }

  await page.getByLabel('Reisepass', { exact: true }).check();
  await page.getByLabel('Bürger-Service-Station Walsum, Duisburg-Walsum').check();
  // Saturday evening: no office is open then, so no proposal comes.
  await page.getByLabel('Samstag, 18 bis 19 Uhr').check();
  await page.getByLabel('Vor- und Nachname').fill('Wanda Wunsch');
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await follow(page, () => page.getByRole('button', { name: 'Terminsuche eintragen' }).click(),
    { label: 'wish registered', status: 201, heading: 'Bitte bestätigen Sie Ihre Terminsuche' });
  assert.ok((await page.locator('main').innerText()).includes(email));

  await confirmWish(page, email, 'end');
  // Pressed again: nothing happens, the page says so.
  const request = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen Sie Ihre Terminsuche' });
  await visit(page, request.link('Terminsuche bestätigen'),
    { label: 'confirm-wish link again', heading: 'Ihre Terminsuche ist bereits bestätigt' });

  const mail = await app.server.outbox.newest({ to: email, subject: 'Terminsuche ist eingetragen' });
  assert.match(mail.text, /Walsum/);
  await visit(page, mail.link('Terminsuche beenden'), { label: 'end-wish link', heading: 'Terminsuche beenden?' });
  await follow(page, () => page.getByRole('button', { name: 'Terminsuche beenden' }).click(),
    { label: 'end-wish link pressed', heading: 'Ihre Terminsuche ist beendet' });
});

test('a wish for open hours gets a proposal by mail; accepting it through the link books the appointment', async () => {
  const page = await app.newPage();
  const email = 'wunsch.vorschlag@example.org';

  await visit(page, '/suche', { label: 'wish form (proposal)' });
  await page.getByLabel('Personalausweis').check();
  await page.getByLabel('Bürger-Service-Station Stadtmitte, Duisburg-Stadtmitte').check();
  for (const day of ['Montag', 'Dienstag', 'Mittwoch', 'Donnerstag', 'Freitag']) {
    await page.getByLabel(`${day}, 9 bis 10 Uhr`).check();
  }
  await page.getByLabel('Vor- und Nachname').fill('Paul Vorschlag');
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await follow(page, () => page.getByRole('button', { name: 'Terminsuche eintragen' }).click(),
    { label: 'wish registered (proposal)', status: 201, heading: 'Bitte bestätigen Sie Ihre Terminsuche' });
  await confirmWish(page, email, 'proposal');

  const proposal = await app.server.outbox.newest({ to: email, subject: 'Terminvorschlag', timeoutMs: 30_000 });
  await visit(page, proposal.link('Termin annehmen'), { label: 'accept-proposal link', heading: 'Terminvorschlag annehmen?' });
  await follow(page, () => page.getByRole('button', { name: 'Termin verbindlich annehmen' }).click(),
    { label: 'accept-proposal link pressed', heading: 'Ihr Termin ist gebucht' });
});
