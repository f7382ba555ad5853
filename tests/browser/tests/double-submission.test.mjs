// One person, one time (issue 16): after booking, going back and sending the
// form again, or reloading the "Fast geschafft" page, books nothing more and
// mails nothing more. The POST answers 303 to a page of its own (post,
// redirect, get), whose address is the booking signed for that page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

// No proof of work and no per-network limit here: this file is about sending
// the same form twice, not about what those refuse.
const app = useTerminagent({ extraArgs: ['--proof-of-work', '0', '--max-pending-bookings-per-network', '0'] });

/** The form's one-time key. */
const keyOf = (page) => page.locator('input[name="einmalschluessel"]').getAttribute('value');

/** How many bookings the log holds (the audit API, as staff read it). */
async function bookingsRequested() {
  let after = 0;
  let count = 0;
  for (;;) {
    const response = await fetch(app.server.url(`/api/v1/events?after=${after}&limit=1000`), {
      headers: { authorization: `Bearer ${app.server.adminToken}` },
    });
    assert.equal(response.status, 200, 'the audit API answers');
    const page = await response.json();
    if (page.events.length === 0) return count;
    count += page.events.filter((event) => event.type === 'booking.requested').length;
    after = page.next;
  }
}

/** Through the steps to the contact form of the first free time at Hamborn. */
async function toContactForm(page, label) {
  await visit(page, '/termin', { label: `${label}: services`, heading: 'Welche Anliegen' });
  await page.getByLabel('Personalausweis').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: `${label}: office`, heading: 'In welchem Bürgerbüro' });
  await page.getByLabel('Bürger-Service-Station Hamborn').check();
  await follow(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: `${label}: day`, heading: 'An welchem Tag?' });
  await follow(page, () => page.locator('#tage button').first().click(), { label: `${label}: time`, heading: 'Um wie viel Uhr?' });
  await follow(page, () => page.locator('#uhrzeiten button').first().click(),
    { label: `${label}: contact`, heading: 'Ihre Angaben' });
}

async function fillContact(page, email) {
  await page.getByLabel('Vor- und Nachname').fill('Doppel Klick');
  await page.getByLabel('E-Mail-Adresse').fill(email);
}

test('back and send again, and reloading the result page, book once and mail once', async () => {
  const page = await app.newPage();
  const email = 'doppel.klick@example.org';
  const before = await bookingsRequested();

  await toContactForm(page, 'double submission');
  const formUrl = page.url();
  const firstKey = await keyOf(page);
  assert.ok(firstKey, 'the form carries a one-time key');
  await fillContact(page, email);
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'result page after the redirect', heading: 'Bitte bestätigen Sie Ihren Termin' });
  const resultUrl = page.url();
  assert.match(new URL(resultUrl).pathname, /^\/termin\/angefragt\/[0-9A-Z]{26}\.[A-Za-z0-9_-]{43}$/,
    'post, redirect, get: the result has an address of its own');
  assert.ok(!resultUrl.includes('doppel'), 'no personal data in the address');
  assert.ok((await page.locator('main').innerText()).includes(email));
  assert.equal(await bookingsRequested(), before + 1);

  // Reloading the result page is a GET: nothing is sent again.
  for (let reload = 1; reload <= 2; reload += 1) {
    await follow(page, () => page.reload(),
      { label: `result page reloaded (${reload})`, heading: 'Bitte bestätigen Sie Ihren Termin' });
  }
  assert.equal(await bookingsRequested(), before + 1, 'a reload books nothing');

  // Back to the form and send it again: the booking already made answers
  // (the form's one-time key), or, if the browser fetched the form afresh,
  // the rule that one person cannot book the same time twice does.
  await page.goBack();
  assert.equal(page.url(), formUrl, 'back lands on the form');
  await fillContact(page, email);
  const sameKey = (await keyOf(page)) === firstKey;
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(), sameKey
    ? { label: 'form sent again (same key)', heading: 'Bitte bestätigen Sie Ihren Termin' }
    : { label: 'form sent again (new key)', status: 409, heading: 'Sie haben zu dieser Zeit schon einen Termin' });
  if (sameKey) assert.equal(page.url(), resultUrl, 'the same booking\'s page');
  assert.equal(await bookingsRequested(), before + 1, 'sent again, nothing is booked');

  await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const mails = (await app.server.outbox.all()).filter((mail) => mail.to.includes(email));
  assert.equal(mails.length, 1, `one mail, not ${mails.length}`);
});

test('the same form sent twice (its one-time key) shows the first booking', async () => {
  const page = await app.newPage();
  const email = 'zweimal.gesendet@example.org';
  const before = await bookingsRequested();
  await toContactForm(page, 'same key');
  await fillContact(page, email);
  // The form as it stands, to send it once more as a second click would.
  const fields = await page.locator('form[action="/termin/buchen"]').evaluate((form) => [...new FormData(form)]);
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'same key: result page', heading: 'Bitte bestätigen Sie Ihren Termin' });
  const resultUrl = page.url();
  // The second send, from the page (same origin), as the browser would post it.
  const answer = await page.evaluate(async (pairs) => {
    const response = await fetch('/termin/buchen', { method: 'POST', body: new URLSearchParams(pairs), redirect: 'follow' });
    return { status: response.status, url: response.url };
  }, fields);
  assert.equal(answer.status, 200);
  assert.equal(answer.url, resultUrl, 'the second send lands on the first booking\'s page');
  assert.equal(await bookingsRequested(), before + 1);
});

test('a guessed result page address shows nothing', async () => {
  const page = await app.newPage();
  await visit(page, '/termin/angefragt/01JE5Q3K8Y2X4N6P7R9S0T1V2W.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    { label: 'guessed result page', status: 404, heading: 'Diese Seite gibt es nicht' });
});
