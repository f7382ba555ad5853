// The office floor in the browser (issue 13): a kiosk checks visitors in on
// its check-in screen, the clerk's desk page shows the queue live, the clerk
// presses "Nächste Person aufrufen" and the waiting room's call display
// (signed in once with its device token) shows the number within a second.
// axe-core checks every page on the way (visit/follow), and the display and
// desk again after their live updates. Then the server is killed under a
// display that shows a call and started again on the same port and database
// (server.restart()): the display stays signed in, reconnects by itself,
// resumes after the last call it saw (Last-Event-ID) and shows the next one;
// behind a proxy answering 502 it keeps trying by itself; once revoked, it
// stops at its next reconnect and shows why.
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

/**
 * Office, service, capacity (an hour from the next full quarter), a kiosk and
 * a display; `walkIn` marks the service for tickets drawn on the spot.
 */
async function setUpOffice({ office = OFFICE, service = 'aufruf-test', walkIn = false } = {}) {
  const { zone, offset, local } = morningZone();
  const date = `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`;
  const startMinutes = (Math.floor((local.getUTCHours() * 60 + local.getUTCMinutes()) / 15) + 2) * 15;
  const hm = (minutes) => `${two(Math.floor(minutes / 60))}:${two(minutes % 60)}`;
  let answer = await api('PUT', `/api/v1/offices/${office}`,
    { name: 'Bürgerbüro im Foyer', address: 'Markt 1, Duisburg', timezone: zone });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('PUT', `/api/v1/services/${service}`, { name: 'Meldebescheinigung', duration_minutes: 10, walk_in: walkIn });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('POST', `/api/v1/offices/${office}/capacity`,
    { date, from: hm(startMinutes), to: hm(startMinutes + 60), unit_minutes: 10, lanes: 3 });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const kiosk = await api('POST', `/api/v1/offices/${office}/devices`, { kind: 'kiosk', name: 'Kiosk am Eingang' });
  assert.equal(kiosk.status, 201, JSON.stringify(kiosk.body));
  const display = await api('POST', `/api/v1/offices/${office}/devices`, { kind: 'display', name: 'Anzeige Wartebereich' });
  assert.equal(display.status, 201, JSON.stringify(display.body));
  return {
    start: `${date}T${hm(startMinutes)}:00${offset}`,
    kiosk: kiosk.body.token,
    display: display.body.token,
    displayId: display.body.device_id,
  };
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

// ---- The server restarts (a crash: SIGKILL) under a display that is showing calls.

/** A clerk of `office` with a bearer token of their own (survives restarts: it lives in the database). */
async function clerkToken(office, email) {
  const put = await api('PUT', `/api/v1/staff/${encodeURIComponent(email)}`,
    { name: 'Clara Neustart', roles: [{ role: 'clerk', office }] });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const issued = await api('POST', `/api/v1/staff/${encodeURIComponent(email)}/tokens`);
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  return issued.body.token;
}

/** A walk-in ticket drawn and checked in by the clerk: { booking, number }. */
async function checkedInTicket(office, service, token) {
  const ticket = await api('POST', `/api/v1/offices/${office}/tickets`, { services: [service] }, token);
  assert.equal(ticket.status, 201, JSON.stringify(ticket.body));
  const checkIn = await api('POST', `/api/v1/offices/${office}/check-ins`, { code: ticket.body.check_in_code }, token);
  assert.equal(checkIn.status, 200, JSON.stringify(checkIn.body));
  return { booking: ticket.body.booking_id, number: ticket.body.number };
}

/** How often `Nummer <number> – Schalter` appears in `text`. */
const timesShown = (text, number) => text.split(`Nummer ${number} – Schalter`).length - 1;

test('the display reconnects by itself after the server is killed and restarted, without losing or repeating a call', async (t) => {
  const office = 'wartehalle';
  const service = 'neustart-test';
  const setUp = await setUpOffice({ office, service, walkIn: true });
  const clerk = await clerkToken(office, 'clara.neustart@stadt.example');
  const first = await checkedInTicket(office, service, clerk);
  const second = await checkedInTicket(office, service, clerk);
  const third = await checkedInTicket(office, service, clerk);

  // ---- The display, signed in once by its token; everything it does is watched.
  const display = await app.newPage();
  const pageErrors = [];
  display.on('pageerror', (error) => pageErrors.push(error.message));
  const streamRequests = [];
  const failedStreams = [];
  display.on('request', (request) => {
    if (new URL(request.url()).pathname === `/anzeige/${office}/stream`) streamRequests.push(request);
  });
  display.on('requestfailed', (request) => {
    if (new URL(request.url()).pathname === `/anzeige/${office}/stream`) failedStreams.push(request);
  });
  await visit(display, `/anzeige/${office}?token=${setUp.display}`, { label: 'restart: display', heading: 'Aufrufe' });
  assert.equal(new URL(display.url()).search, '', 'the token is gone from the address');
  const cookieBefore = (await display.context().cookies()).find((cookie) => cookie.name === 'terminagent_device');
  assert.ok(cookieBefore, 'the display holds its device cookie');
  assert.match(await display.locator('#aktuell').innerText(), /Noch kein Aufruf/);
  await display.waitForFunction(() => document.getElementById('wartend').textContent.trim() === '3', null, { timeout: 5000 });
  const connection = display.locator('#verbindung');
  assert.equal((await connection.innerText()).trim(), '', 'connected: no connection notice');

  const shows = (number, counter, timeout) => display.waitForFunction(
    ([n, c]) => document.getElementById('aktuell').textContent.includes(`Nummer ${n} – Schalter ${c}`),
    [number, counter], { timeout });

  // ---- The first call arrives live.
  let called = await api('POST', `/api/v1/offices/${office}/counters/1/next`, undefined, clerk);
  assert.equal(called.status, 200, JSON.stringify(called.body));
  assert.equal(called.body.number, first.number, 'the earlier ticket is called first');
  await shows(first.number, 1, 5000);
  await display.waitForFunction(() => document.getElementById('wartend').textContent.trim() === '2', null, { timeout: 5000 });

  // ---- The server dies (SIGKILL: no goodbye on the stream) and comes back on the same port.
  const streamsBefore = streamRequests.length;
  const oldPid = app.server.pid;
  await app.server.restart({
    signal: 'SIGKILL',
    whileDown: async () => {
      assert.equal(app.server.running, false);
      // The page notices, says so, and survives at least one refused reconnect.
      await display.waitForFunction(
        () => /Verbindung unterbrochen/.test(document.getElementById('verbindung').textContent), null, { timeout: 5000 });
      const refused = () => failedStreams.filter((request) => streamRequests.indexOf(request) >= streamsBefore);
      const refusedBy = Date.now() + 10_000;
      while (refused().length === 0 && Date.now() < refusedBy) await display.waitForTimeout(100);
      assert.ok(refused().length > 0, 'the page tried to reconnect while the server was down (and was refused)');
      assert.match(await display.locator('h1').innerText(), /Aufrufe/, 'the page is still the display');
      assert.ok(await shows(first.number, 1, 1000), 'the last call stays on the screen');
      assert.deepEqual(pageErrors, [], 'no script error while the server is down');
      await expectNoAxeViolations(display, 'restart: display while the server is down');
    },
  });
  assert.notEqual(app.server.pid, oldPid, 'a new process');

  // ---- The device is still signed in: its cookie and the token behind it live in the database.
  const cookieAfter = (await display.context().cookies()).find((cookie) => cookie.name === 'terminagent_device');
  assert.equal(cookieAfter?.value, cookieBefore.value, 'the browser kept the device cookie');
  const stillSignedIn = await display.context().request.get(`/anzeige/${office}`, { maxRedirects: 0 });
  assert.equal(stillSignedIn.status(), 200, 'the display page opens with the cookie after the restart');

  // ---- The clerk carries on at once; the display shows the next call within a few seconds.
  const restarted = Date.now();
  for (const action of ['start', 'finish']) {
    const moved = await api('POST', `/api/v1/visits/${first.booking}/${action}`, undefined, clerk);
    assert.equal(moved.status, 200, `${action}: ${JSON.stringify(moved.body)}`);
  }
  called = await api('POST', `/api/v1/offices/${office}/counters/1/next`, undefined, clerk);
  assert.equal(called.status, 200, JSON.stringify(called.body));
  assert.equal(called.body.number, second.number);
  await shows(second.number, 1, 8000);
  const latency = Date.now() - restarted;
  assert.ok(latency < 8000, `the display showed the call ${latency} ms after the server was back`);
  t.diagnostic(`after the SIGKILL restart the display showed the next call ${latency} ms after /readyz`);
  await display.waitForFunction(() => document.getElementById('verbindung').textContent.trim() === '', null, { timeout: 5000 });
  assert.equal((await display.locator('#wartend').innerText()).trim(), '1');

  // It resumed after the last call it had seen (Last-Event-ID), so the first call is listed once, not twice.
  const resumed = streamRequests.slice(streamsBefore);
  const lastEventIds = await Promise.all(resumed.map(async (request) => (await request.allHeaders())['last-event-id']));
  assert.ok(lastEventIds.some(Boolean), `a reconnect sent Last-Event-ID (reconnects: ${resumed.length})`);
  const previousText = await display.locator('#vorherige').innerText();
  assert.equal(timesShown(previousText, first.number), 1, `the first call is listed once below: ${JSON.stringify(previousText)}`);
  assert.equal(timesShown(await display.locator('#anzeige').innerText(), first.number), 1, 'the first call appears once on the page');
  assert.equal(timesShown(await display.locator('#anzeige').innerText(), second.number), 1, 'the second call appears once on the page');
  assert.deepEqual(pageErrors, [], 'no script error across the restart');
  await expectNoAxeViolations(display, 'restart: display after reconnecting');

  // ---- A graceful restart (SIGTERM) behind a proxy that answers 502 while the server is away:
  // the browser's EventSource gives up on an error answer, so the page itself tries again,
  // from the last call it saw, waiting a little longer each time.
  const ourPages = (url) => url.pathname === `/anzeige/${office}` || url.pathname === `/anzeige/${office}/stream`;
  const badGateway = [];
  const proxy = (route) => {
    badGateway.push(new URL(route.request().url()).pathname);
    return route.fulfill({ status: 502, contentType: 'text/plain; charset=utf-8', body: 'Bad Gateway' });
  };
  await display.route(ourPages, proxy);
  const streamsBeforeProxy = streamRequests.length;
  await app.server.restart({
    signal: 'SIGTERM',
    whileDown: async () => {
      // The stream's 502, then at least one 502 for the page's own check before it reconnects.
      const triedBy = Date.now() + 15_000;
      while (!(badGateway.includes(`/anzeige/${office}/stream`) && badGateway.includes(`/anzeige/${office}`)) && Date.now() < triedBy) {
        await display.waitForTimeout(100);
      }
      assert.ok(badGateway.includes(`/anzeige/${office}/stream`), `the stream met the proxy's 502: ${JSON.stringify(badGateway)}`);
      assert.ok(badGateway.includes(`/anzeige/${office}`), `after giving up, the page checked itself again: ${JSON.stringify(badGateway)}`);
      assert.match(await connection.innerText(), /Verbindung unterbrochen/);
      assert.deepEqual(pageErrors, [], 'no script error behind the proxy');
      await expectNoAxeViolations(display, 'restart: display behind a proxy answering 502');
    },
  });
  await display.unroute(ourPages, proxy);
  const unblocked = Date.now();
  for (const action of ['start', 'finish']) {
    const moved = await api('POST', `/api/v1/visits/${second.booking}/${action}`, undefined, clerk);
    assert.equal(moved.status, 200, `${action}: ${JSON.stringify(moved.body)}`);
  }
  called = await api('POST', `/api/v1/offices/${office}/counters/1/next`, undefined, clerk);
  assert.equal(called.status, 200, JSON.stringify(called.body));
  assert.equal(called.body.number, third.number);
  // The pauses so far were 1 s, 2 s (and perhaps 4 s): the next try comes within 10 s.
  await shows(third.number, 1, 10_000);
  t.diagnostic(`behind the 502 proxy the display showed the next call ${Date.now() - unblocked} ms after the server was back`);
  await display.waitForFunction(() => document.getElementById('verbindung').textContent.trim() === '', null, { timeout: 5000 });
  // The page's new stream starts after the last call it saw: the second one, whose id (position in
  // the log) is beyond the first's, which the reconnect after the crash sent as Last-Event-ID.
  const firstCallId = Number(lastEventIds.find(Boolean));
  const resumedAt = streamRequests.slice(streamsBeforeProxy)
    .map((request) => new URL(request.url()).searchParams.get('after'))
    .filter((after) => after !== null)
    .map(Number);
  assert.ok(resumedAt.some((after) => after > firstCallId),
    `a new stream starts after the second call (beyond ${firstCallId}): after=${JSON.stringify(resumedAt)}`);
  const text = await display.locator('#anzeige').innerText();
  assert.equal(timesShown(text, first.number), 1, `the first call once: ${JSON.stringify(text)}`);
  assert.equal(timesShown(text, second.number), 1, `the second call once: ${JSON.stringify(text)}`);
  assert.equal(timesShown(text, third.number), 1, `the third call once: ${JSON.stringify(text)}`);
  assert.equal((await display.locator('#wartend').innerText()).trim(), '0');
  assert.deepEqual(pageErrors, [], 'no script error across both restarts');
  await expectNoAxeViolations(display, 'restart: display after the proxy let it through again');

  // A fresh load shows the same: the calls come from the log, not from the page's memory.
  await visit(display, `/anzeige/${office}`, { label: 'restart: display reloaded', heading: 'Aufrufe' });
  assert.match(await display.locator('#aktuell').innerText(), new RegExp(`Nummer ${third.number} – Schalter 1`));
  const listed = await display.locator('#vorherige').innerText();
  assert.equal(timesShown(listed, first.number), 1, listed);
  assert.equal(timesShown(listed, second.number), 1, listed);
});

test('a display revoked while it shows calls stops at its next reconnect and says why, instead of retrying for ever', async () => {
  const office = 'nebenstelle';
  const setUp = await setUpOffice({ office, service: 'widerruf-test' });
  const display = await app.newPage();
  const pageErrors = [];
  display.on('pageerror', (error) => pageErrors.push(error.message));
  const ours = [];
  display.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith(`/anzeige/${office}`)) ours.push(request);
  });
  await visit(display, `/anzeige/${office}?token=${setUp.display}`, { label: 'revoked: display', heading: 'Aufrufe' });

  // Revoked (its open stream goes on until it ends): after the restart its reconnect is refused (401).
  const revoked = await api('DELETE', `/api/v1/offices/${office}/devices/${setUp.displayId}`);
  assert.equal(revoked.status, 204, JSON.stringify(revoked.body));
  const before = ours.length;
  await app.server.restart({ signal: 'SIGKILL' });
  await display.waitForFunction(() => /Zugangstoken ungültig/.test(document.querySelector('h1')?.textContent ?? ''),
    null, { timeout: 15_000 });
  assert.deepEqual(pageErrors, []);
  await expectNoAxeViolations(display, 'revoked: the display says why it stopped');
  // The refused stream, the page's one check and its reload; then nothing more (each would count as a wrong token).
  await display.waitForTimeout(1500);
  const tries = ours.slice(before).map((request) => `${request.method()} ${new URL(request.url()).pathname}`);
  assert.ok(tries.length <= 4, `a revoked display stops asking: ${JSON.stringify(tries)}`);
});
