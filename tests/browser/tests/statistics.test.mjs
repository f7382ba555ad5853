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

/**
 * The new charts (waiting by hour, the waitlist's inflow and fill) each
 * stand beside a table, and every row of the table is a column of bars
 * carrying the same numbers (`data-value`, German decimal comma in the
 * table). The waiting chart may be replaced by a sentence when nobody was
 * called; its table is then empty.
 */
async function chartsCarryTheirTables(page, label) {
  const pairs = [
    ['diagramm-wartezeit-stunden', 'tabelle-wartezeit-stunden', ['p50', 'p90']],
    ['diagramm-warteliste-zugang', 'tabelle-warteliste-zugang', ['registered']],
    ['diagramm-warteliste-bestand', 'tabelle-warteliste-bestand', ['waiting']],
  ];
  for (const [chart, table, series] of pairs) {
    const found = await page.evaluate(([chart, table, series]) => {
      const svg = document.getElementById(chart);
      const rows = [...document.querySelectorAll(`#${table} tbody tr`)];
      const cells = rows.map((row) => ({
        key: row.dataset.key,
        values: [...row.querySelectorAll('td')].slice(-series.length).map((cell) => cell.textContent.trim()),
      }));
      const bars = svg
        ? rows.map((row) => series.map((name) => {
          const bar = svg.querySelector(`rect[data-x="${row.dataset.key}"][data-series="${name}"]`);
          return bar ? bar.getAttribute('data-value').replace('.', ',') : null;
        }))
        : null;
      return {
        svg: Boolean(svg),
        role: svg?.getAttribute('role'),
        title: svg?.querySelector('title')?.textContent ?? '',
        cells,
        bars,
      };
    }, [chart, table, series]);
    if (!found.svg) {
      assert.equal(found.cells.length, 0, `${label}: ${chart} missing although ${table} has rows`);
      continue;
    }
    assert.equal(found.role, 'img', `${label}: ${chart} role`);
    assert.ok(found.title.length > 0, `${label}: ${chart} has a title`);
    assert.ok(found.cells.length > 0, `${label}: ${table} has rows`);
    found.cells.forEach((row, index) => {
      assert.deepEqual(found.bars[index], row.values, `${label}: ${chart} column ${row.key}`);
    });
  }
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
  await chartsCarryTheirTables(auditor, 'auditor: all offices');

  // One office, the last complete month, by the form and the quick links.
  await auditor.getByLabel('Bürgerbüro', { exact: true }).selectOption(OFFICE);
  await follow(auditor, () => auditor.getByRole('button', { name: 'Anzeigen' }).click(),
    { label: 'auditor: one office', heading: 'Statistik für' });
  assert.match(await auditor.locator('p.step').innerText(), new RegExp(OFFICE_NAME));
  await follow(auditor, () => auditor.getByRole('link', { name: 'Voriger Monat' }).click(),
    { label: 'auditor: last month', heading: 'Statistik für' });
  await follow(auditor, () => auditor.getByRole('link', { name: 'Heute' }).click(),
    { label: 'auditor: today', heading: 'Statistik für' });
  await chartsCarryTheirTables(auditor, 'auditor: today');
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
