// The staff pages (/staff) as office staff use them: a lead signs in with the
// one-time password `terminagent staff add` printed, chooses a password, edits
// opening hours, publishes a week, registers a kiosk and a display; a citizen
// books through the citizen pages; a clerk finds the booking on the day list
// and cancels it with a reason, which reaches the citizen by mail. axe-core
// checks every page on the way (visit/follow).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { binaryPath, follow, useTerminagent, visit } from '../support/index.mjs';
import { proofOfWorkHeader } from '../support/proof-of-work.mjs';

const app = useTerminagent();
const run = promisify(execFile);
const OFFICE = 'walsum';
const OFFICE_NAME = 'Bürger-Service-Station Walsum';

/** `terminagent staff add` on the server's database; answers the one-time password. */
async function addStaff(email, name, role, office) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TERMINAGENT_')) delete env[key];
  const args = ['staff', 'add', '--email', email, '--name', name, '--role', role];
  if (office) args.push('--office', office);
  args.push('--database-url', `sqlite://${path.join(app.server.dir, 't.db')}`);
  const { stdout } = await run(binaryPath(), args, { env });
  const match = stdout.match(/one-time password: (\S+)/);
  assert.ok(match, `staff add printed no one-time password: ${stdout}`);
  return match[1];
}

/** Signs in with a one-time password and replaces it; ends on the start page. */
async function signInFirstTime(page, email, oneTime, password, who) {
  await visit(page, '/staff', { label: `${who}: sign-in`, heading: 'Anmeldung für Mitarbeitende' });
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await page.getByLabel('Passwort', { exact: true }).fill('falsch');
  await follow(page, () => page.getByRole('button', { name: 'Anmelden' }).click(),
    { label: `${who}: sign-in refused`, status: 401, heading: 'Anmeldung für Mitarbeitende' });
  assert.match(await page.getByRole('alert').innerText(), /E-Mail-Adresse oder das Passwort stimmt nicht/);

  await page.getByLabel('Passwort', { exact: true }).fill(oneTime);
  await follow(page, () => page.getByRole('button', { name: 'Anmelden' }).click(),
    { label: `${who}: choose a password`, heading: 'Bitte wählen Sie Ihr eigenes Passwort' });
  await page.getByLabel('Neues Passwort', { exact: true }).fill('zu kurz');
  await page.getByLabel('Neues Passwort wiederholen').fill('zu kurz');
  await follow(page, () => page.getByRole('button', { name: 'Passwort speichern' }).click(),
    { label: `${who}: password too short`, status: 422, heading: 'Bitte wählen Sie Ihr eigenes Passwort' });
  await page.getByLabel('Neues Passwort', { exact: true }).fill(password);
  await page.getByLabel('Neues Passwort wiederholen').fill(password);
  await follow(page, () => page.getByRole('button', { name: 'Passwort speichern' }).click(),
    { label: `${who}: start page`, heading: 'Guten Tag' });
  assert.match(await page.locator('main').innerText(), /neues Passwort ist gespeichert/);
}

/** The text of the first mail to `to` whose subject contains `subject` (waits). */
async function mailText(to, subject) {
  return (await app.server.outbox.newest({ to, subject })).text;
}

test('a lead edits the hours, publishes a week and registers devices; a clerk cancels a booking', async () => {
  // ---- The lead.
  const leadPassword = 'Leitung-Walsum-2026!';
  const leadOneTime = await addStaff('lea.leitung@stadt.example', 'Lea Leitung', 'lead', OFFICE);
  const lead = await app.newPage();
  await signInFirstTime(lead, 'lea.leitung@stadt.example', leadOneTime, leadPassword, 'lead');
  const start = await lead.locator('main').innerText();
  for (const task of ['Tagesliste', 'Kapazität veröffentlichen', 'Öffnungszeiten und Schließtage', 'Kiosks und Aufrufanzeigen']) {
    assert.ok(start.includes(task), `the lead's start page offers ${task}`);
  }
  assert.ok(!start.includes('Personal und Zugänge'), 'but not the admin pages');

  // Opening hours: Saturday mornings as well.
  await follow(lead, () => lead.getByRole('link', { name: /Öffnungszeiten und Schließtage/ }).click(),
    { label: 'lead: opening hours', heading: 'Öffnungszeiten und Schließtage' });
  assert.equal(await lead.getByLabel('Montag, 1. Zeitraum von').inputValue(), '08:00');
  assert.equal(await lead.getByLabel('Gesetzliche Feiertage').inputValue(), 'DE-NW');
  await lead.getByLabel('Samstag, 1. Zeitraum von').fill('09:00');
  await follow(lead, () => lead.getByRole('button', { name: 'Speichern' }).click(),
    { label: 'lead: opening hours incomplete', status: 422, heading: 'Öffnungszeiten und Schließtage' });
  assert.match(await lead.getByRole('alert').innerText(), /Samstag: Bitte geben Sie Beginn und Ende/);
  await lead.getByLabel('Samstag, 1. Zeitraum bis').fill('12:00');
  await lead.getByLabel('Weitere Schließtage').fill('24.12.2030');
  await follow(lead, () => lead.getByRole('button', { name: 'Speichern' }).click(),
    { label: 'lead: opening hours saved', heading: 'Öffnungszeiten und Schließtage' });
  assert.match(await lead.getByRole('status').innerText(), /gespeichert/);
  assert.equal(await lead.getByLabel('Samstag, 1. Zeitraum bis').inputValue(), '12:00');

  // A week template: Saturday 09–12 is new; Monday overlaps the demo's capacity.
  await visit(lead, '/staff', { label: 'lead: start again', heading: 'Guten Tag' });
  await follow(lead, () => lead.getByRole('link', { name: /Kapazität veröffentlichen/ }).click(),
    { label: 'lead: week template', heading: 'Kapazität veröffentlichen' });
  assert.ok(await lead.getByLabel('Samstag').isChecked(), 'Saturday is open now: proposed');
  for (const day of ['Dienstag', 'Mittwoch', 'Donnerstag', 'Freitag', 'Sonntag']) {
    await lead.getByLabel(day, { exact: true }).setChecked(false);
  }
  await lead.getByLabel('Montag', { exact: true }).setChecked(true);
  await lead.getByLabel('Von', { exact: true }).fill('09:00');
  await lead.getByLabel('Bis', { exact: true }).fill('12:00');
  await lead.getByLabel('Anzahl Wochen').fill('3');
  await follow(lead, () => lead.getByRole('button', { name: 'Veröffentlichen' }).click(),
    { label: 'lead: week published', status: 201, heading: 'Kapazität veröffentlicht' });
  const published = await lead.locator('main').innerText();
  assert.match(published, /Samstag, .*: 15 Zeiteinheiten/);
  assert.match(published, /Übersprungen/);
  assert.match(published, /Montag, .*: (Überschneidet sich|Feiertag)/);

  // Devices: a kiosk and a display, each token shown once.
  await visit(lead, `/staff/${OFFICE}/geraete`, { label: 'lead: devices', heading: 'Kiosks und Aufrufanzeigen' });
  await lead.getByLabel(/^Kiosk/).check();
  await lead.getByLabel('Name des Geräts').fill('Kiosk am Eingang');
  await follow(lead, () => lead.getByRole('button', { name: 'Gerät registrieren' }).click(),
    { label: 'lead: kiosk registered', status: 201, heading: 'Kiosks und Aufrufanzeigen' });
  assert.match(await lead.locator('code.token').innerText(), /^[A-Za-z0-9_-]{43}$/);
  await lead.getByLabel(/^Aufrufanzeige/).check();
  await lead.getByLabel('Name des Geräts').fill('Anzeige Wartebereich');
  await follow(lead, () => lead.getByRole('button', { name: 'Gerät registrieren' }).click(),
    { label: 'lead: display registered', status: 201, heading: 'Kiosks und Aufrufanzeigen' });
  const devices = await lead.locator('table').innerText();
  assert.match(devices, /Kiosk am Eingang/);
  assert.match(devices, /Anzeige Wartebereich/);
  await follow(lead, () => lead.getByRole('button', { name: 'Abmelden' }).click(),
    { label: 'lead: signed out', heading: 'Anmeldung für Mitarbeitende' });
  assert.match(await lead.getByRole('status').innerText(), /abgemeldet/);

  // ---- A citizen books at Walsum through the citizen pages, and confirms.
  const citizen = await app.newPage();
  const email = 'erika.walsum@example.org';
  await visit(citizen, '/termin', { label: 'citizen: services', heading: 'Welche Anliegen' });
  await citizen.getByLabel('Personalausweis').check();
  await follow(citizen, () => citizen.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'citizen: office', heading: 'In welchem Bürgerbüro' });
  await citizen.getByLabel(OFFICE_NAME).check();
  await follow(citizen, () => citizen.getByRole('button', { name: 'Weiter' }).click(),
    { label: 'citizen: day', heading: 'An welchem Tag?' });
  // Not today: a slot starting in a minute could begin before the clerk cancels it.
  await follow(citizen, () => citizen.locator('#tage button').nth(1).click(),
    { label: 'citizen: time', heading: 'Um wie viel Uhr?' });
  const date = new URL(citizen.url()).searchParams.get('date');
  assert.match(date, /^\d{4}-\d{2}-\d{2}$/);
  await follow(citizen, () => citizen.locator('#uhrzeiten button').first().click(),
    { label: 'citizen: contact', heading: 'Ihre Angaben' });
  await citizen.getByLabel('Vor- und Nachname').fill('Erika Walsum');
  await citizen.getByLabel('E-Mail-Adresse').fill(email);
  await follow(citizen, () => citizen.getByRole('button', { name: 'Termin buchen' }).click(),
    { label: 'citizen: booked', heading: 'Bitte bestätigen Sie Ihren Termin' });
  const request = await app.server.outbox.newest({ to: email, subject: 'Bitte bestätigen' });
  await visit(citizen, request.link('Termin bestätigen'), { label: 'citizen: confirm link', heading: 'Termin bestätigen?' });
  await follow(citizen, () => citizen.getByRole('button', { name: 'Termin verbindlich bestätigen' }).click(),
    { label: 'citizen: confirmed', heading: 'Ihr Termin ist bestätigt' });
  const number = (await citizen.locator('dd strong').innerText()).trim();
  assert.match(number, /^\d+$/);

  // ---- The clerk reads the day list and cancels on the citizen's behalf.
  const clerkOneTime = await addStaff('carl.clerk@stadt.example', 'Carl Sachbearbeiter', 'clerk', OFFICE);
  const clerk = await app.newPage();
  await signInFirstTime(clerk, 'carl.clerk@stadt.example', clerkOneTime, 'Sachbearbeitung-2026!', 'clerk');
  assert.ok(!(await clerk.locator('main').innerText()).includes('Kapazität'), 'a clerk publishes no capacity');
  await follow(clerk, () => clerk.getByRole('link', { name: /Tagesliste/ }).click(),
    { label: 'clerk: day list today', heading: 'Tagesliste für' });
  await clerk.getByLabel('Tag', { exact: true }).fill(date);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Tag anzeigen' }).click(),
    { label: 'clerk: day list of the booking', heading: 'Tagesliste für' });
  const list = await clerk.locator('table').innerText();
  assert.match(list, /Erika Walsum/);
  assert.match(list, /Personalausweis/);
  assert.match(list, /Bestätigt/);

  await clerk.getByLabel('Wartenummer oder Anmeldecode suchen').fill(number);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Suchen' }).click(),
    { label: 'clerk: day list by number', heading: 'Tagesliste für' });
  assert.equal(await clerk.locator('tbody tr').count(), 1);

  await follow(clerk, () => clerk.getByRole('link', { name: /Absagen.*Erika Walsum/ }).click(),
    { label: 'clerk: cancel form', heading: 'Termin absagen' });
  assert.match(await clerk.locator('main').innerText(), new RegExp(`Wartenummer\\s*${number}`));
  await follow(clerk, () => clerk.getByRole('button', { name: 'Termin absagen' }).click(),
    { label: 'clerk: cancel without reason', status: 422, heading: 'Termin absagen' });
  const reason = 'Der Ausweisdrucker ist an diesem Tag ausgefallen';
  await clerk.getByLabel('Grund der Absage').fill(reason);
  await follow(clerk, () => clerk.getByRole('button', { name: 'Termin absagen' }).click(),
    { label: 'clerk: cancelled', heading: 'Der Termin ist abgesagt' });
  assert.match(await clerk.locator('main').innerText(), new RegExp(reason));
  await follow(clerk, () => clerk.getByRole('link', { name: 'Zurück zur Tagesliste' }).click(),
    { label: 'clerk: day list after cancelling', heading: 'Tagesliste für' });
  assert.match(await clerk.locator('table').innerText(), /Abgesagt/);

  // The citizen's mail says so, with the reason.
  const cancellation = await mailText(email, 'Ihr Termin wurde abgesagt');
  assert.ok(cancellation.includes(reason), `the cancellation mail gives the reason:\n${cancellation}`);

  // The clerk's roles end at the lead's pages.
  await visit(clerk, `/staff/${OFFICE}/kapazitaet`, { label: 'clerk: lead page refused', status: 403, heading: 'Keine Berechtigung' });
  await visit(clerk, '/staff/hamborn/tag', { label: 'clerk: other office refused', status: 403, heading: 'Keine Berechtigung' });
});

test('an admin creates an account, an office and a service', async () => {
  const oneTime = await addStaff('ada.admin@stadt.example', 'Ada Admin', 'admin', '');
  const admin = await app.newPage();
  await signInFirstTime(admin, 'ada.admin@stadt.example', oneTime, 'Administration-2026!', 'admin');
  const start = await admin.locator('main').innerText();
  for (const task of ['Personal und Zugänge', 'Bürgerbüros (Standorte)', 'Dienstleistungen']) {
    assert.ok(start.includes(task), `the admin's start page offers ${task}`);
  }

  await follow(admin, () => admin.getByRole('link', { name: 'Personal und Zugänge' }).click(),
    { label: 'admin: staff', heading: 'Personal und Zugänge' });
  await admin.getByLabel('E-Mail-Adresse').fill('nina.neu@stadt.example');
  await admin.getByLabel('Name', { exact: true }).fill('Nina Neu');
  await admin.getByLabel('Rolle').selectOption('clerk');
  await follow(admin, () => admin.getByRole('button', { name: 'Konto speichern' }).click(),
    { label: 'admin: account without office', status: 422, heading: 'Personal und Zugänge' });
  await admin.getByLabel(/^Bürgerbüro/).selectOption(OFFICE);
  await follow(admin, () => admin.getByRole('button', { name: 'Konto speichern' }).click(),
    { label: 'admin: account created', status: 201, heading: 'Personal und Zugänge' });
  const password = (await admin.locator('code.token').innerText()).trim();
  assert.match(password, /^[A-Za-z0-9]{20}$/);
  assert.match(await admin.locator('table').innerText(), /Nina Neu/);

  await visit(admin, '/staff/admin/standorte', { label: 'admin: offices', heading: 'Bürgerbüros' });
  await admin.getByLabel('Kennung').fill('innenhafen');
  await admin.getByLabel('Name', { exact: true }).fill('Bürgerbüro Innenhafen');
  await admin.getByLabel('Anschrift').fill('Philosophenweg 21\n47051 Duisburg');
  await follow(admin, () => admin.getByRole('button', { name: 'Bürgerbüro speichern' }).click(),
    { label: 'admin: office created', status: 201, heading: 'Bürgerbüros' });
  await follow(admin, () => admin.getByRole('link', { name: 'Öffnungszeiten festlegen' }).click(),
    { label: 'admin: new office hours', heading: 'Öffnungszeiten und Schließtage' });

  await visit(admin, '/staff/admin/dienstleistungen', { label: 'admin: services', heading: 'Dienstleistungen' });
  await admin.getByLabel('Kennung').fill('wohngeld');
  await admin.getByLabel('Name', { exact: true }).fill('Wohngeld');
  await admin.getByLabel('Dauer in Minuten').fill('0');
  await follow(admin, () => admin.getByRole('button', { name: 'Dienstleistung speichern' }).click(),
    { label: 'admin: service refused', status: 422, heading: 'Dienstleistungen' });
  await admin.getByLabel('Dauer in Minuten').fill('20');
  await follow(admin, () => admin.getByRole('button', { name: 'Dienstleistung speichern' }).click(),
    { label: 'admin: service created', status: 201, heading: 'Dienstleistungen' });
  assert.match(await admin.locator('table').innerText(), /Wohngeld\s+wohngeld\s+20 Minuten/);
});

test('a lead closes a day and everyone booked on it hears why', async () => {
  // A citizen holds a slot at Hamborn (booked through the API: the pages are covered above).
  const office = 'hamborn';
  const today = new Date().toISOString().slice(0, 10);
  const later = new Date(Date.now() + 14 * 86400e3).toISOString().slice(0, 10);
  const slots = await (await fetch(app.server.url(
    `/api/v1/availability?office=${office}&services=personalausweis&from=${today}&to=${later}`))).json();
  const slot = slots.slots.find((s) => new Date(s.start) > new Date(Date.now() + 86400e3));
  assert.ok(slot, 'the demo publishes bookable slots');
  const email = 'hanna.hamborn@example.org';
  const booked = await fetch(app.server.url('/api/v1/bookings'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await proofOfWorkHeader(app.server)) },
    body: JSON.stringify({ office, services: ['personalausweis'], start: slot.start,
      citizen: { name: 'Hanna Hamborn', email } }),
  });
  assert.equal(booked.status, 201, await booked.text());
  const date = slot.start.slice(0, 10);

  const oneTime = await addStaff('lars.leitung@stadt.example', 'Lars Leitung', 'lead', office);
  const lead = await app.newPage();
  await signInFirstTime(lead, 'lars.leitung@stadt.example', oneTime, 'Leitung-Hamborn-2026!', 'lead (Hamborn)');
  await follow(lead, () => lead.getByRole('link', { name: /Einen Tag oder Teil davon schließen/ }).click(),
    { label: 'lead: close a day', heading: 'Einen Tag oder einen Teil davon schließen' });
  await lead.getByLabel('Datum').fill(date);
  await follow(lead, () => lead.getByRole('button', { name: 'Schließen und Betroffene benachrichtigen' }).click(),
    { label: 'lead: close without reason', status: 422, heading: 'Einen Tag oder einen Teil davon schließen' });
  const reason = 'Wegen eines Wasserschadens bleibt die Station geschlossen';
  await lead.getByLabel(/Grund/).fill(reason);
  await follow(lead, () => lead.getByRole('button', { name: 'Schließen und Betroffene benachrichtigen' }).click(),
    { label: 'lead: closed', status: 201, heading: 'Geschlossen' });
  assert.match(await lead.locator('main').innerText(), /1 Termin\(e\) wurden abgesagt/);

  const mail = await mailText(email, 'Ihr Termin wurde abgesagt');
  assert.ok(mail.includes(reason), `the cancellation mail gives the reason:\n${mail}`);
  assert.ok(mail.includes('/suche'), 'and links to a wish');
  const after = await (await fetch(app.server.url(
    `/api/v1/availability?office=${office}&services=personalausweis&from=${date}&to=${date}`))).json();
  assert.deepEqual(after.slots, [], 'nothing on the closed day is offered');
});
