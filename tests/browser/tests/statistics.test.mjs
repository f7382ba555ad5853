// The statistics pages (/staff/statistik): an auditor opens them from the
// start page for all offices and for one, with the quick links; a lead finds
// their office's statistics on the start page. axe-core checks every page,
// the inline SVG charts and their tables included (visit/follow).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import { binaryPath, follow, useTerminagent, visit } from '../support/index.mjs';

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
async function signIn(page, email, oneTime, password, who) {
  await visit(page, '/staff', { label: `${who}: sign-in`, heading: 'Anmeldung für Mitarbeitende' });
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await page.getByLabel('Passwort', { exact: true }).fill(oneTime);
  await follow(page, () => page.getByRole('button', { name: 'Anmelden' }).click(),
    { label: `${who}: choose a password`, heading: 'Bitte wählen Sie Ihr eigenes Passwort' });
  await page.getByLabel('Neues Passwort', { exact: true }).fill(password);
  await page.getByLabel('Neues Passwort wiederholen').fill(password);
  await follow(page, () => page.getByRole('button', { name: 'Passwort speichern' }).click(),
    { label: `${who}: start page`, heading: 'Guten Tag' });
}

test('an auditor reads the statistics of all offices and of one; a lead of hers', async () => {
  const oneTime = await addStaff('anke.pruefung@stadt.example', 'Anke Prüfung', 'auditor');
  const auditor = await app.newPage();
  await signIn(auditor, 'anke.pruefung@stadt.example', oneTime, 'Pruefung-2026-Statistik!', 'auditor');
  await follow(auditor, () => auditor.getByRole('link', { name: 'Statistik aller Bürgerbüros' }).click(),
    { label: 'auditor: statistics of all offices', heading: 'Statistik für' });
  assert.match(await auditor.locator('p.step').innerText(), /Alle Bürgerbüros/);
  const chart = auditor.locator('svg#diagramm-buchungen');
  assert.equal(await chart.getAttribute('role'), 'img');
  assert.match(await chart.locator('title').first().textContent(), /Buchungen je Tag/);
  assert.ok(await auditor.locator('svg#diagramm-auslastung').isVisible());

  // One office, the last complete month, by the form and the quick links.
  await auditor.getByLabel('Bürgerbüro', { exact: true }).selectOption(OFFICE);
  await follow(auditor, () => auditor.getByRole('button', { name: 'Anzeigen' }).click(),
    { label: 'auditor: one office', heading: 'Statistik für' });
  assert.match(await auditor.locator('p.step').innerText(), new RegExp(OFFICE_NAME));
  await follow(auditor, () => auditor.getByRole('link', { name: 'Voriger Monat' }).click(),
    { label: 'auditor: last month', heading: 'Statistik für' });
  await follow(auditor, () => auditor.getByRole('link', { name: 'Heute' }).click(),
    { label: 'auditor: today', heading: 'Statistik für' });
  const csv = auditor.getByRole('link', { name: 'CSV' });
  assert.match(await csv.getAttribute('href'), new RegExp(`buero=${OFFICE}&.*format=csv`));

  // A lead: her office's statistics from the start page, no other office.
  const leadOneTime = await addStaff('lea.statistik@stadt.example', 'Lea Leitung', 'lead', OFFICE);
  const lead = await app.newPage();
  await signIn(lead, 'lea.statistik@stadt.example', leadOneTime, 'Leitung-Statistik-2026!', 'lead');
  await follow(lead, () => lead.getByRole('link', { name: /^Statistik/ }).click(),
    { label: 'lead: statistics of her office', heading: 'Statistik für' });
  assert.match(await lead.locator('p.step').innerText(), new RegExp(OFFICE_NAME));
  await visit(lead, '/staff/statistik?buero=alle', { label: 'lead: all offices refused', status: 403, heading: 'Keine Berechtigung' });
});
