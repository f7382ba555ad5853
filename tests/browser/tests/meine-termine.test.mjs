// "Meine Termine": the form on the start page mails a link to the address's
// bookings; the list shows them with their buttons, and a booking awaiting
// confirmation gets its confirm mail again. axe on every page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

/** Books the first free time through the booking pages; the time's label. */
async function book(page, email) {
  await visit(page, '/termin', { label: 'booking: services', heading: 'Welche Anliegen' });
  await page.getByLabel('Personalausweis').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'booking: office', heading: 'In welchem Bürgerbüro' });
  await page.getByLabel('Bürger-Service-Station Hamborn').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'booking: day', heading: 'An welchem Tag?' });
  await follow(page, () => page.locator('#tage button').first().click(), { label: 'booking: time', heading: 'Um wie viel Uhr?' });
  await follow(page, () => page.locator('#uhrzeiten button').first().click(), { label: 'booking: contact', heading: 'Ihre Angaben' });
  await page.getByLabel('Vor- und Nachname').fill('Erika Mustermann');
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'booking requested', heading: 'Bitte bestätigen Sie Ihren Termin' });
}

test('asks for the link, lists the booking, resends its confirm mail', async () => {
  const page = await app.newPage();
  const email = 'erika.meine-termine@example.org';
  await book(page, email);
  const first = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });

  await visit(page, '/', { label: 'start' });
  await follow(page, () => page.locator('main').getByRole('link', { name: 'Meine Termine' }).click(),
    { label: 'meine termine: form', heading: 'Meine Termine' });

  // A malformed address comes back with the error at the field.
  await page.getByLabel('E-Mail-Adresse').fill('keine-adresse');
  await follow(page, () => page.getByRole('button', { name: 'Link anfordern' }).click(),
    { label: 'meine termine: form with error', status: 422, heading: 'Meine Termine' });
  assert.match(await page.getByRole('alert').innerText(), /gültige E-Mail-Adresse/);
  assert.equal(await page.getByLabel('E-Mail-Adresse').getAttribute('aria-invalid'), 'true');

  // An unknown address gets the same page as a known one.
  await page.getByLabel('E-Mail-Adresse').fill('niemand@example.org');
  await follow(page, () => page.getByRole('button', { name: 'Link anfordern' }).click(),
    { label: 'meine termine: sent (unknown)', heading: 'Bitte sehen Sie in Ihr E-Mail-Postfach' });
  const unknownAnswer = await page.locator('main').innerText();

  await visit(page, '/meine-termine', { label: 'meine termine: form again', heading: 'Meine Termine' });
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await follow(page, () => page.getByRole('button', { name: 'Link anfordern' }).click(),
    { label: 'meine termine: sent', heading: 'Bitte sehen Sie in Ihr E-Mail-Postfach' });
  assert.equal(new URL(page.url()).pathname, '/meine-termine/gesendet', 'post, redirect, get');
  assert.equal(await page.locator('main').innerText(), unknownAnswer, 'the same answer for both');
  assert.match(unknownAnswer, /Wenn zu dieser Adresse Termine oder Suchaufträge bestehen/);

  const mail = await app.server.outbox.newest({ to: email, subject: 'Meine Termine' });
  const link = mail.text.match(/https?:\/\/\S+\/meine-termine\/[A-Za-z0-9_-]{43}/);
  assert.ok(link, `the mail carries the link: ${mail.text}`);
  assert.match(mail.html, /Meine Termine ansehen/);

  await visit(page, link[0], { label: 'meine termine: list', heading: 'Meine Termine' });
  const list = await page.locator('main').innerText();
  assert.match(list, /Bürger-Service-Station Hamborn/);
  assert.match(list, /Noch nicht bestätigt/);
  assert.match(list, /keine laufenden Terminsuchen/);

  await follow(page, () => page.getByRole('button', { name: /Bestätigungs-Mail erneut senden/ }).click(),
    { label: 'meine termine: resent', heading: 'Meine Termine' });
  assert.match(await page.getByRole('status').innerText(), /erneut geschickt/);
  const again = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen', except: [first.file] });
  assert.equal(again.link('Termin bestätigen'), first.link('Termin bestätigen'), 'the same confirm link');

  await follow(page, () => page.getByRole('link', { name: /Termin absagen/ }).click(),
    { label: 'meine termine: cancel link page', heading: 'Termin absagen?' });
  await follow(page, () => page.getByRole('button', { name: 'Termin absagen' }).click(),
    { label: 'meine termine: cancelled', heading: 'Ihr Termin ist abgesagt' });
  await visit(page, link[0], { label: 'meine termine: list after cancelling', heading: 'Meine Termine' });
  assert.match(await page.locator('main').innerText(), /keine offenen Termine/);
});

test('an unknown overview link says so', async () => {
  const page = await app.newPage();
  await visit(page, `/meine-termine/${'A'.repeat(43)}`,
    { label: 'meine termine: unknown link', status: 404, heading: 'Diesen Link kennen wir nicht' });
});
