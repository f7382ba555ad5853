// The office floor in the browser (issue 13): a kiosk checks visitors in on
// its check-in screen, the clerk's desk page shows the queue live, the clerk
// presses "Nächste Person aufrufen" and the waiting room's call display
// (signed in once with its device token) shows the number within a second.
// axe-core checks every page on the way (visit/follow), and the display and
// desk again after their live updates.
//
// The office is made through the JSON API with the admin token, in a zone
// where it is mid-morning now, so the test runs at any hour;
// `--check-in-early 3h` lets today's bookings check in at once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { binaryPath, expectNoAxeViolations, follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent({ extraArgs: ['--check-in-early', '3h'] });
const run = promisify(execFile);
const OFFICE = 'foyer';

/** A JSON API call with the admin token (or `token`). */
async function api(method, pathname, body, token = app.server.adminToken) {
  const response = await fetch(app.server.url(pathname), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** `terminagent staff add` on the server's database; answers the one-time password. */
async function addStaff(email, name, role, office) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TERMINAGENT_')) delete env[key];
  const args = ['staff', 'add', '--email', email, '--name', name, '--role', role, '--office', office,
    '--database-url', `sqlite://${path.join(app.server.dir, 't.db')}`];
  const { stdout } = await run(binaryPath(), args, { env });
  const match = stdout.match(/one-time password: (\S+)/);
  assert.ok(match, `staff add printed no one-time password: ${stdout}`);
  return match[1];
}

/** An IANA zone where it is about 10 o'clock now, its UTC offset and today's date there. */
function morningZone() {
  const now = new Date();
  let hours = 10 - now.getUTCHours();
  if (hours < -12) hours += 24;
  if (hours > 14) hours -= 24;
  const zone = hours === 0 ? 'Etc/UTC' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`;
  const offset = `${hours < 0 ? '-' : '+'}${String(Math.abs(hours)).padStart(2, '0')}:00`;
  const local = new Date(now.getTime() + hours * 3600_000);
  return { zone, offset, local };
}

const two = (n) => String(n).padStart(2, '0');

/** Office, service, capacity (an hour from the next full quarter), a kiosk and a display. */
async function setUpOffice() {
  const { zone, offset, local } = morningZone();
  const date = `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`;
  const startMinutes = (Math.floor((local.getUTCHours() * 60 + local.getUTCMinutes()) / 15) + 2) * 15;
  const hm = (minutes) => `${two(Math.floor(minutes / 60))}:${two(minutes % 60)}`;
  let answer = await api('PUT', `/api/v1/offices/${OFFICE}`,
    { name: 'Bürgerbüro im Foyer', address: 'Markt 1, Duisburg', timezone: zone });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('PUT', '/api/v1/services/aufruf-test', { name: 'Meldebescheinigung', duration_minutes: 10 });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('POST', `/api/v1/offices/${OFFICE}/capacity`,
    { date, from: hm(startMinutes), to: hm(startMinutes + 60), unit_minutes: 10, lanes: 3 });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const kiosk = await api('POST', `/api/v1/offices/${OFFICE}/devices`, { kind: 'kiosk', name: 'Kiosk am Eingang' });
  assert.equal(kiosk.status, 201, JSON.stringify(kiosk.body));
  const display = await api('POST', `/api/v1/offices/${OFFICE}/devices`, { kind: 'display', name: 'Anzeige Wartebereich' });
  assert.equal(display.status, 201, JSON.stringify(display.body));
  return { start: `${date}T${hm(startMinutes)}:00${offset}`, kiosk: kiosk.body.token, display: display.body.token };
}

/** A booking at `start`, confirmed through its mail's link: { number, code }. */
async function confirmedBooking(start, email) {
  const requested = await api('POST', '/api/v1/bookings', {
    office: OFFICE, services: ['aufruf-test'], start, citizen: { name: 'Erika Muster', email },
  });
  assert.equal(requested.status, 201, JSON.stringify(requested.body));
  const mail = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });
  const token = new URL(mail.link('Termin bestätigen')).pathname.split('/').pop();
  const pressed = await api('POST', `/api/v1/links/${token}`);
  assert.equal(pressed.status, 200, JSON.stringify(pressed.body));
  return { number: pressed.body.booking.number, code: pressed.body.booking.check_in_code };
}

/** The kiosk screen checks `booking` in, typed like a hand scanner (code, Enter). */
async function checkInAtKiosk(kiosk, booking, label) {
  await kiosk.getByLabel('Anmeldecode').fill(booking.code);
  await follow(kiosk, () => kiosk.getByLabel('Anmeldecode').press('Enter'),
    { label, heading: `Sie sind eingecheckt – Ihre Wartenummer ${booking.number}` });
  await follow(kiosk, () => kiosk.getByRole('link', { name: 'Zurück zur Anmeldung' }).click(),
    { label: `${label}: back to the form`, heading: 'Willkommen' });
}

test('a kiosk checks in, the desk calls, the display shows the number within a second', async () => {
  const office = await setUpOffice();
  const anna = await confirmedBooking(office.start, 'anna.foyer@example.org');
  const bert = await confirmedBooking(office.start, 'bert.foyer@example.org');

  // ---- The kiosk: signed in once by its token, then its cookie.
  const kiosk = await app.newPage();
  await visit(kiosk, `/kiosk/${OFFICE}?token=${office.kiosk}`, { label: 'kiosk: check-in screen', heading: 'Willkommen' });
  assert.equal(new URL(kiosk.url()).pathname, `/kiosk/${OFFICE}`, 'the token is gone from the address');
  assert.equal(new URL(kiosk.url()).search, '');
  await kiosk.getByLabel('Anmeldecode').fill('ZZZZZZZZ');
  await follow(kiosk, () => kiosk.getByLabel('Anmeldecode').press('Enter'),
    { label: 'kiosk: unknown code', status: 404, heading: 'Bitte wenden Sie sich an die Information' });
  await follow(kiosk, () => kiosk.getByRole('link', { name: 'Zurück zur Anmeldung' }).click(),
    { label: 'kiosk: back', heading: 'Willkommen' });
  await checkInAtKiosk(kiosk, anna, 'kiosk: anna checked in');

  // ---- The display in the waiting room.
  const display = await app.newPage();
  await visit(display, `/anzeige/${OFFICE}?token=${office.display}`, { label: 'display', heading: 'Aufrufe' });
  assert.equal(new URL(display.url()).search, '', 'the token is gone from the address');
  assert.match(await display.locator('#aktuell').innerText(), /Noch kein Aufruf/);
  assert.equal((await display.locator('#wartend').innerText()).trim(), '1');

  // ---- The clerk's desk: the queue grows live when bert checks in.
  const oneTime = await addStaff('sven.schalter@stadt.example', 'Sven Schalter', 'clerk', OFFICE);
  const clerk = await app.newPage();
  await visit(clerk, '/staff', { label: 'clerk: sign-in', heading: 'Anmeldung für Mitarbeitende' });
  await clerk.getByLabel('E-Mail-Adresse').fill('sven.schalter@stadt.example');
  await clerk.getByLabel('Passwort', { exact: true }).fill(oneTime);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Anmelden' }).click(),
    { label: 'clerk: choose a password', heading: 'Bitte wählen Sie Ihr eigenes Passwort' });
  await clerk.getByLabel('Neues Passwort', { exact: true }).fill('Schalter-Foyer-2026!');
  await clerk.getByLabel('Neues Passwort wiederholen').fill('Schalter-Foyer-2026!');
  await follow(clerk, () => clerk.getByRole('button', { name: 'Passwort speichern' }).click(),
    { label: 'clerk: start page', heading: 'Guten Tag' });
  await visit(clerk, `/staff/${OFFICE}/schalter/3`, { label: 'clerk: desk', heading: 'Schalter 3' });
  assert.match(await clerk.locator('#warteschlange').innerText(), /Warteschlange \(1\)/);

  await checkInAtKiosk(kiosk, bert, 'kiosk: bert checked in');
  await clerk.waitForFunction(() => /Warteschlange \(2\)/.test(document.getElementById('warteschlange').textContent),
    null, { timeout: 5000 });
  await display.waitForFunction(() => document.getElementById('wartend').textContent.trim() === '2',
    null, { timeout: 5000 });
  await expectNoAxeViolations(clerk, 'clerk: desk after a check-in');

  // ---- "Next": the display shows the number within a second.
  const called = (number) => display.waitForFunction(
    (n) => document.getElementById('aktuell').textContent.includes(`Nummer ${n} – Schalter 3`),
    number, { timeout: 5000 }).then(() => Date.now());
  const firstNumber = [anna.number, bert.number].sort((a, b) => Number(a) - Number(b))[0];
  const pressed = Date.now();
  const shown = called(firstNumber);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Nächste Person aufrufen' }).click(),
    { label: 'clerk: called', heading: 'Schalter 3' });
  const expected = (await clerk.getByRole('status').innerText()).match(/Nummer (\d+) ist an Schalter 3 aufgerufen/);
  assert.ok(expected, 'the desk says whom it called');
  assert.equal(expected[1], firstNumber, 'anna and bert have the same start: the earlier check-in first');
  const latency = (await shown) - pressed;
  assert.ok(latency < 1000, `the display showed the call ${latency} ms after the click`);
  assert.equal((await display.locator('#wartend').innerText()).trim(), '1');
  await expectNoAxeViolations(display, 'display after a call');

  // The clerk finishes and calls the next: the first call moves to the list below.
  await follow(clerk, () => clerk.getByRole('button', { name: 'Beginnen' }).click(), { label: 'clerk: serving', heading: 'Schalter 3' });
  await follow(clerk, () => clerk.getByRole('button', { name: 'Fertig' }).click(), { label: 'clerk: finished', heading: 'Schalter 3' });
  const secondNumber = firstNumber === anna.number ? bert.number : anna.number;
  const secondShown = called(secondNumber);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Nächste Person aufrufen' }).click(),
    { label: 'clerk: second call', heading: 'Schalter 3' });
  await secondShown;
  assert.match(await display.locator('#vorherige').innerText(), new RegExp(`Nummer ${firstNumber} – Schalter 3`));
  assert.equal((await display.locator('#wartend').innerText()).trim(), '0');
  await expectNoAxeViolations(display, 'display after two calls');

  // A recall too soon: a German message on the desk.
  await follow(clerk, () => clerk.getByRole('button', { name: 'Erneut aufrufen' }).click(),
    { label: 'clerk: recall too soon', status: 409, heading: 'Schalter 3' });
  assert.match(await clerk.getByRole('alert').innerText(), /Zu früh für einen erneuten Aufruf/);
});
