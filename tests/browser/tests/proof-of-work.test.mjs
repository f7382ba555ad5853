// The booking form's proof of work (issue 16 point 3) with the server's
// defaults: with JavaScript the page solves the challenge and books at once;
// without, the server holds the form for the wait and books; a refused
// solution gets a German page that sends the same form again. axe-core on
// every page with JavaScript (visit/follow; axe needs scripts, and injects one
// inline, so those pages bypass the CSP); one page keeps the CSP in force to
// show the script is allowed by it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();

/** Navigates by `action` and checks status and heading, without axe (no scripts). */
async function followPlain(page, action, { label, status = 200, heading }) {
  const [response] = await Promise.all([page.waitForNavigation(), action()]);
  assert.equal(response.status(), status, `${label}: status`);
  assert.ok((await page.locator('h1').first().innerText()).includes(heading), `${label}: heading`);
  return response;
}

/** Clicks through the steps to the contact form with the first free choices. */
async function toContactForm(page, label, { axe = true } = {}) {
  const go = axe ? follow : followPlain;
  if (axe) await visit(page, '/termin', { label: `${label}: services`, heading: 'Welche Anliegen' });
  else await page.goto('/termin');
  await page.getByLabel('Personalausweis').check();
  await go(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: `${label}: office`, heading: 'In welchem Bürgerbüro' });
  await page.getByLabel('Bürger-Service-Station Hamborn').check();
  await go(page, () => page.getByRole('button', { name: 'Weiter' }).click(),
    { label: `${label}: day`, heading: 'An welchem Tag?' });
  await go(page, () => page.locator('#tage button').first().click(),
    { label: `${label}: time`, heading: 'Um wie viel Uhr?' });
  await go(page, () => page.locator('#uhrzeiten button').first().click(),
    { label: `${label}: contact`, heading: 'Ihre Angaben' });
}

/** The bodies of the POSTs to /termin/buchen the page sends. */
function bookingPosts(page) {
  const bodies = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/termin/buchen') {
      bodies.push(new URLSearchParams(request.postData() || ''));
    }
  });
  return bodies;
}

test('with JavaScript the form solves the challenge and books', async () => {
  const page = await app.newPage();
  const posts = bookingPosts(page);
  await toContactForm(page, 'js');
  await page.getByLabel('Vor- und Nachname').fill('Erika Rechnerin');
  await page.getByLabel('E-Mail-Adresse').fill('erika.rechnerin@example.org');
  const started = Date.now();
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'js: booking requested', heading: 'Bitte bestätigen Sie Ihren Termin' });
  assert.equal(posts.length, 1);
  const solution = JSON.parse(Buffer.from(posts[0].get('altcha') || '', 'base64').toString('utf8'));
  assert.equal(solution.algorithm, 'SHA-256');
  assert.ok(Number.isInteger(solution.number), 'the form carried a solved number');
  assert.ok(Date.now() - started < 5_000, 'solved, not held for the wait');
});

test('under the pages\' own CSP the script runs and fetches its challenge', async () => {
  const page = await app.newPage({ bypassCSP: false });
  const blocked = [];
  page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) blocked.push(message.text()); });
  const challenge = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/challenge');
  await toContactForm(page, 'csp', { axe: false });
  assert.equal((await challenge).status(), 200, 'the script fetched a challenge');
  assert.deepEqual(blocked, [], 'nothing was blocked by the CSP');
});

test('without JavaScript the form waits, then books', async () => {
  const page = await app.newPage({ javaScriptEnabled: false, bypassCSP: false });
  const posts = bookingPosts(page);
  await toContactForm(page, 'no js', { axe: false });
  await page.getByLabel('Vor- und Nachname').fill('Otto Ohneskript');
  await page.getByLabel('E-Mail-Adresse').fill('otto.ohneskript@example.org');
  const started = Date.now();
  await followPlain(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'no js: booking requested', heading: 'Bitte bestätigen Sie Ihren Termin' });
  const waited = Date.now() - started;
  assert.equal(posts.length, 1);
  assert.equal(posts[0].get('altcha'), null, 'no solution was sent');
  // The default difficulty (500 000) holds a form without a solution 5 s.
  assert.ok(waited >= 4_500, `held ${waited} ms`);
});

test('a refused solution gets a German page that sends the form again', async () => {
  const page = await app.newPage();
  // The first post carries a forged solution (as a bot's would).
  let forged = false;
  await page.route('**/termin/buchen', async (route) => {
    if (forged || route.request().method() !== 'POST') return route.continue();
    forged = true;
    const form = new URLSearchParams(route.request().postData() || '');
    form.set('altcha', Buffer.from(JSON.stringify({
      algorithm: 'SHA-256', challenge: '00', number: 1, salt: 'x?expires=9999999999', signature: '00',
    })).toString('base64'));
    return route.continue({ postData: form.toString() });
  });
  await toContactForm(page, 'forged');
  await page.getByLabel('Vor- und Nachname').fill('Fritz Fälscher');
  await page.getByLabel('E-Mail-Adresse').fill('fritz.faelscher@example.org');
  await follow(page, () => page.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'forged: refused', status: 403, heading: 'Sicherheitsprüfung nicht bestanden' });
  assert.match(await page.locator('main').innerText(), /Es wurde nichts gebucht/);
  await follow(page, () => page.getByRole('button', { name: 'Noch einmal senden' }).click(),
    { label: 'forged: sent again', heading: 'Bitte bestätigen Sie Ihren Termin' });
  assert.match(await page.locator('main').innerText(), /fritz\.faelscher@example\.org/);
});
