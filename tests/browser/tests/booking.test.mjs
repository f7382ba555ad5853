// The booking flow as a citizen goes through it: start page, the five steps,
// the "check your mail" page, then the confirm link from the mail.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, tabTo, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

test('books an appointment by clicking, then confirms it through the mail link', async () => {
  const page = await app.newPage();
  const email = 'erika.mustermann@example.org';

  await visit(page, '/', { label: 'start', heading: 'Termin im Bürgerbüro vereinbaren' });
  await follow(page, () => page.getByRole('link', { name: 'Jetzt Termin vereinbaren' }).click(),
    { label: 'step 1: services', heading: 'Welche Anliegen' });

  // Nothing chosen: the step comes back with the reason.
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'step 1: services, none chosen', status: 422, heading: 'Welche Anliegen' });
  assert.match(await page.getByRole('alert').innerText(), /mindestens ein Anliegen/);

  await page.getByLabel('Personalausweis').check();
  await page.getByLabel('Meldebescheinigung').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'step 2: office', heading: 'In welchem Bürgerbüro' });

  await page.getByLabel('Bürger-Service-Station Hamborn').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'step 3: day', heading: 'An welchem Tag?' });

  const day = page.locator('#tage button').first();
  const dayLabel = (await day.innerText()).replace(/\s*\(.*\)\s*$/, '').trim();
  await follow(page, () => day.click(), { label: 'step 4: time', heading: 'Um wie viel Uhr?' });
  assert.ok((await page.locator('legend').innerText()).includes(dayLabel), 'the time step names the chosen day');

  const time = page.locator('#uhrzeiten button').first();
  const timeLabel = (await time.innerText()).replace(' Uhr', '').trim();
  await follow(page, () => time.click(), { label: 'step 5: contact', heading: 'Ihre Angaben' });

  // Invalid contact data: the form comes back with the errors at the fields.
  await page.getByLabel('E-Mail-Adresse').fill('keine-adresse');
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'step 5: contact with errors', status: 422, heading: 'Ihre Angaben' });
  const summary = await page.getByRole('alert').innerText();
  assert.match(summary, /Namen an/);
  assert.match(summary, /gültige E-Mail-Adresse/);
  assert.equal(await page.getByLabel('Vor- und Nachname').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('E-Mail-Adresse').inputValue(), 'keine-adresse', 'what was typed is kept');

  await page.getByLabel('Vor- und Nachname').fill('Erika Mustermann');
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await page.getByLabel('Telefonnummer (freiwillig)').fill('0203 123456');
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'booking requested', heading: 'Bitte bestätigen Sie Ihren Termin' });
  assert.match(new URL(page.url()).pathname, /^\/termin\/angefragt\//, 'post, redirect, get');
  const requested = await page.locator('main').innerText();
  assert.ok(requested.includes(email), 'names the address the mail went to');
  assert.ok(requested.includes('Bürger-Service-Station Hamborn'));
  assert.ok(requested.includes(dayLabel));
  assert.ok(requested.includes(`${timeLabel} bis`), `shows the start time ${timeLabel}`);

  const mail = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });
  await visit(page, mail.link('Termin bestätigen'), { label: 'confirm link', heading: 'Termin bestätigen?' });
  assert.ok((await page.locator('main').innerText()).includes(dayLabel), 'the link page shows the appointment');
  await follow(page, () => page.getByRole('button', { name: 'Termin verbindlich bestätigen' }).click(),
    { label: 'confirm link pressed', heading: 'Ihr Termin ist bestätigt' });
  assert.match(await page.locator('main').innerText(), /Wartenummer/);

  // The same link again: says what happened, offers no button.
  await visit(page, mail.link('Termin bestätigen'), { label: 'confirm link used', heading: 'bereits bestätigt' });
  assert.equal(await page.getByRole('button').count(), 0);

  // The confirmation mail's cancel link works the same way.
  const confirmation = await app.server.outbox.newest({ to: email, subject: 'Terminbestätigung' });
  await visit(page, confirmation.link('Termin absagen'), { label: 'cancel link', heading: 'Termin absagen?' });
  await follow(page, () => page.getByRole('button', { name: 'Termin absagen' }).click(),
    { label: 'cancel link pressed', heading: 'Ihr Termin ist abgesagt' });
});

test('books an appointment with the keyboard only (Tab, Space, Enter)', async () => {
  const page = await app.newPage();
  const email = 'max.mustermann@example.org';
  const enter = () => page.keyboard.press('Enter');

  await visit(page, '/', { label: 'start (keyboard)' });
  await tabTo(page, 'Jetzt Termin vereinbaren');
  await follow(page, enter, { label: 'step 1 (keyboard)', heading: 'Welche Anliegen' });

  await tabTo(page, /^Reisepass\b/);
  await page.keyboard.press('Space');
  await tabTo(page, 'Weiter');
  await follow(page, enter, { label: 'step 2 (keyboard)', heading: 'In welchem Bürgerbüro' });

  // Tab lands on the first office of the radio group; Space chooses it.
  await tabTo(page, 'Bürger-Service-Station');
  await page.keyboard.press('Space');
  await tabTo(page, 'Weiter');
  await follow(page, enter, { label: 'step 3 (keyboard)', heading: 'An welchem Tag?' });

  await tabTo(page, /freie Uhrzeit/);
  await follow(page, enter, { label: 'step 4 (keyboard)', heading: 'Um wie viel Uhr?' });

  await tabTo(page, / Uhr$/);
  await follow(page, enter, { label: 'step 5 (keyboard)', heading: 'Ihre Angaben' });

  await tabTo(page, 'Vor- und Nachname');
  await page.keyboard.type('Max Mustermann');
  await tabTo(page, 'E-Mail-Adresse');
  await page.keyboard.type(email);
  await tabTo(page, 'Termin buchen');
  await follow(page, enter, { label: 'booking requested (keyboard)', heading: 'Bitte bestätigen' });
  assert.ok((await page.locator('main').innerText()).includes(email));

  const mail = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });
  await visit(page, mail.link('Termin bestätigen'), { label: 'confirm link (keyboard)', heading: 'Termin bestätigen?' });
  await tabTo(page, 'Termin verbindlich bestätigen');
  await follow(page, enter, { label: 'confirm link pressed (keyboard)', heading: 'Ihr Termin ist bestätigt' });
});
