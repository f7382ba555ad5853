// The kiosk's walk-in tickets in the browser (issue 13, Düsseldorf's
// "Terminmarke"): the kiosk (signed in once with its device token) offers
// the walk-in services, a visitor ticks one and presses "Wartemarke
// ziehen", and the ticket page shows number, time, how many are ahead, the
// estimated wait and the QR code. axe-core checks every page (visit/follow).
// Printing: the page prints itself once on arrival and on "Drucken"; under
// print media only the ticket shows, no wider than the 72 mm a receipt
// printer prints on 80 mm paper; as a PDF 80 mm wide it is one page.
//
// The office is made through the JSON API with the admin token, in a zone
// where it is mid-morning now, so the test runs at any hour.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { expectNoAxeViolations, follow, useTerminagent, visit } from '../support/index.mjs';

const app = useTerminagent();
const OFFICE = 'marke';
/** CSS pixels per millimetre (96 per inch). */
const PX_PER_MM = 96 / 25.4;

/** A JSON API call with the admin token. */
async function api(method, pathname, body) {
  const response = await fetch(app.server.url(pathname), {
    method,
    headers: { authorization: `Bearer ${app.server.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** An IANA zone where it is about 10 o'clock now, and the local time there (as a UTC Date). */
function morningZone() {
  const now = new Date();
  let hours = 10 - now.getUTCHours();
  if (hours < -12) hours += 24;
  if (hours > 14) hours -= 24;
  const zone = hours === 0 ? 'Etc/UTC' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`;
  return { zone, local: new Date(now.getTime() + hours * 3600_000) };
}

const two = (n) => String(n).padStart(2, '0');

/** Office, a walk-in and an appointment-only service, capacity from the next quarter on, a kiosk. */
async function setUpOffice() {
  const { zone, local } = morningZone();
  const date = `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`;
  const startMinutes = (Math.floor((local.getUTCHours() * 60 + local.getUTCMinutes()) / 15) + 1) * 15;
  const hm = (minutes) => `${two(Math.floor(minutes / 60))}:${two(minutes % 60)}`;
  let answer = await api('PUT', `/api/v1/offices/${OFFICE}`,
    { name: 'Bürgerbüro am Hauptbahnhof', address: 'Willi-Becker-Allee 7\n40227 Düsseldorf', timezone: zone });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('PUT', '/api/v1/services/marke-meldung',
    { name: 'Meldebescheinigung (Kiosk)', duration_minutes: 10, walk_in: true });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('PUT', '/api/v1/services/marke-pass', { name: 'Reisepass (Kiosk)', duration_minutes: 20 });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await api('POST', `/api/v1/offices/${OFFICE}/capacity`,
    { date, from: hm(startMinutes), to: hm(startMinutes + 60), unit_minutes: 10, lanes: 2 });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const kiosk = await api('POST', `/api/v1/offices/${OFFICE}/devices`, { kind: 'kiosk', name: 'Kiosk am Eingang' });
  assert.equal(kiosk.status, 201, JSON.stringify(kiosk.body));
  return { kiosk: kiosk.body.token, start: hm(startMinutes) };
}

/** Pages in the PDF (each page object is `/Type /Page`, the tree `/Type /Pages`). */
function pdfPages(pdf) {
  return (pdf.toString('latin1').match(/\/Type\s*\/Page(?![a-z])/g) ?? []).length;
}

test('the kiosk draws a walk-in ticket that prints on an 80 mm receipt', async () => {
  const office = await setUpOffice();
  const kiosk = await app.newPage();
  // Count the page's print calls instead of opening a print dialog.
  await kiosk.addInitScript(() => {
    window.printed = 0;
    window.print = () => { window.printed += 1; };
  });
  await visit(kiosk, `/kiosk/${OFFICE}?token=${office.kiosk}`, { label: 'kiosk: start', heading: 'Willkommen' });
  // Exactly the catalogue's walk-in services (the demo's and ours), not the others.
  const services = await api('GET', '/api/v1/services');
  const walkIn = services.body.filter((service) => service.walk_in).map((service) => service.name).sort();
  assert.ok(walkIn.includes('Meldebescheinigung (Kiosk)'), JSON.stringify(services.body));
  const choices = kiosk.getByRole('group', { name: 'Ihre Anliegen' });
  const offered = (await choices.locator('label').allInnerTexts()).map((label) => label.replace(/\s*\(etwa \d+ Minuten\)$/, '')).sort();
  assert.deepEqual(offered, walkIn, 'the walk-in services are offered');
  assert.equal(await kiosk.getByLabel(/Reisepass \(Kiosk\)/).count(), 0, 'an appointment-only service is not');

  // Nothing chosen: told so at the choices, on the same screen.
  await follow(kiosk, () => kiosk.getByRole('button', { name: 'Wartemarke ziehen' }).click(),
    { label: 'kiosk: ticket without a service', status: 422, heading: 'Willkommen' });
  assert.match(await kiosk.locator('#marke-auswahl-fehler').innerText(), /mindestens ein Anliegen/);

  await kiosk.getByLabel(/Meldebescheinigung \(Kiosk\)/).check();
  await follow(kiosk, () => kiosk.getByRole('button', { name: 'Wartemarke ziehen' }).click(),
    { label: 'kiosk: the ticket', heading: 'Ihre Wartenummer' });
  assert.match(new URL(kiosk.url()).pathname, new RegExp(`^/kiosk/${OFFICE}/marke/[0-9A-Z]{26}$`));
  const number = (await kiosk.locator('.ticket-number').innerText()).trim();
  assert.match(number, /^\d+$/);
  const ticket = kiosk.locator('#wartemarke');
  const text = await ticket.innerText();
  assert.match(text, new RegExp(`${office.start} Uhr`), 'the ticket shows its time');
  assert.match(text, /Bürgerbüro am Hauptbahnhof/);
  assert.match(text, /Vor Ihnen\s+niemand/);
  assert.match(text, /Geschätzte Wartezeit\s+(bis zu \d+|\d+ bis \d+) Minuten/);
  assert.match(text, /geschätzt nach Dienstleistungsdauer/);
  assert.match(text, /Check-in-Code: [0-9A-Z]{8}/);
  const qrLoaded = await kiosk.locator('.ticket-qr img').evaluate((img) => img.complete && img.naturalWidth > 0);
  assert.ok(qrLoaded, 'the QR image loads');

  // Printed once on arrival; "Drucken" prints again; a reload does not print by itself.
  await kiosk.waitForFunction(() => window.printed === 1, null, { timeout: 5000 });
  await kiosk.getByRole('button', { name: 'Drucken' }).click();
  assert.equal(await kiosk.evaluate(() => window.printed), 2);
  await kiosk.reload();
  await kiosk.waitForLoadState('load');
  assert.equal(await kiosk.evaluate(() => window.printed), 0);
  await expectNoAxeViolations(kiosk, 'kiosk: the ticket after a reload');

  // Print media: only the ticket, within the printable 72 mm, black on white.
  await kiosk.emulateMedia({ media: 'print' });
  assert.equal(await kiosk.locator('header').isVisible(), false, 'no header on the receipt');
  assert.equal(await kiosk.getByRole('button', { name: 'Drucken' }).isVisible(), false);
  assert.equal(await kiosk.getByRole('link', { name: /zurück zum Start/ }).isVisible(), false);
  assert.ok(await ticket.isVisible());
  const printed = await kiosk.evaluate(() => {
    const sheet = document.getElementById('wartemarke');
    const visible = [...document.body.querySelectorAll('*')]
      .filter((element) => !sheet.contains(element) && !element.contains(sheet))
      .filter((element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden');
    const widest = Math.max(...[sheet, ...sheet.querySelectorAll('*')].map((element) => element.getBoundingClientRect().right))
      - sheet.getBoundingClientRect().left;
    const style = getComputedStyle(sheet);
    return { outside: visible.map((element) => element.tagName), width: widest, color: style.color, background: style.backgroundColor };
  });
  assert.deepEqual(printed.outside, [], 'nothing but the ticket is printed');
  assert.ok(printed.width <= 72 * PX_PER_MM + 0.5, `the ticket is ${(printed.width / PX_PER_MM).toFixed(1)} mm wide`);
  assert.equal(printed.color, 'rgb(0, 0, 0)');
  assert.equal(printed.background, 'rgb(255, 255, 255)');

  // As a PDF on 80 mm paper: one page.
  const pdf = await kiosk.pdf({ width: '80mm', printBackground: false });
  assert.equal(pdfPages(pdf), 1, 'the ticket fits one page');
  await kiosk.emulateMedia({ media: 'screen' });

  // Back to the start: a second ticket has one person ahead (the first).
  await follow(kiosk, () => kiosk.getByRole('link', { name: /zurück zum Start/ }).click(),
    { label: 'kiosk: back to the start', heading: 'Willkommen' });
  await kiosk.getByLabel(/Meldebescheinigung \(Kiosk\)/).check();
  await follow(kiosk, () => kiosk.getByRole('button', { name: 'Wartemarke ziehen' }).click(),
    { label: 'kiosk: the second ticket', heading: 'Ihre Wartenummer' });
  assert.notEqual((await kiosk.locator('.ticket-number').innerText()).trim(), number);
  assert.match(await kiosk.locator('#vor-ihnen').innerText(), /1 Person/);
});
