// Reads the `.eml` files that `--mail file:DIR` writes (one per mail, named
// by a random id, so "newest" goes by modification time) and finds the
// /links/{token} URLs in them.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function decodeQuotedPrintable(text) {
  const bytes = [];
  const soft = text.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i += 1) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `=?utf-8?b?…?=` / `=?utf-8?q?…?=` words in a header. */
function decodeHeader(value) {
  return value.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=(?:\s+(?==\?))?/g, (_, _charset, kind, data) =>
    kind.toLowerCase() === 'b'
      ? Buffer.from(data, 'base64').toString('utf8')
      : decodeQuotedPrintable(data.replace(/_/g, ' ')));
}

function parseHeaders(block) {
  const headers = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The decoded text parts of a MIME entity: [{ type, text }]. */
function textParts(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = parseHeaders(split < 0 ? raw : raw.slice(0, split));
  const body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const type = (headers['content-type'] || 'text/plain').toLowerCase();
  const boundary = (headers['content-type'] || '').match(/boundary="?([^";]+)"?/i);
  if (type.startsWith('multipart/') && boundary) {
    const marker = `--${boundary[1]}`;
    return body
      .split(marker)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .flatMap((part) => textParts(part.replace(/^\r?\n/, '')));
  }
  if (!type.startsWith('text/')) return [];
  const encoding = (headers['content-transfer-encoding'] || '7bit').toLowerCase();
  let text = body;
  if (encoding === 'base64') text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  else if (encoding === 'quoted-printable') text = decodeQuotedPrintable(body);
  return [{ type: type.split(';')[0].trim(), text }];
}

/** One mail: headers, decoded text and html, and its mail links. */
export class Mail {
  constructor(file, raw) {
    this.file = file;
    this.raw = raw;
    const split = raw.search(/\r?\n\r?\n/);
    this.headers = parseHeaders(raw.slice(0, split));
    this.subject = decodeHeader(this.headers.subject || '');
    this.to = decodeHeader(this.headers.to || '');
    const parts = textParts(raw);
    this.text = parts.filter((part) => part.type === 'text/plain').map((part) => part.text).join('\n');
    this.html = parts.filter((part) => part.type === 'text/html').map((part) => part.text).join('\n');
  }

  /**
   * The mail's links to /links/{token}, each { label, url }: in the text part
   * a link stands on its own line below its label ("Termin bestätigen:").
   */
  links() {
    const found = [];
    const lines = this.text.split(/\r?\n/).map((line) => line.trim());
    lines.forEach((line, index) => {
      const match = line.match(/https?:\/\/\S+\/links\/[A-Za-z0-9_-]+/);
      if (!match) return;
      let label = line.slice(0, match.index).replace(/[:\s]+$/, '');
      if (!label) {
        const above = lines.slice(Math.max(0, index - 2), index).reverse().find(Boolean) || '';
        label = above.replace(/:$/, '');
      }
      found.push({ label, url: match[0] });
    });
    return found;
  }

  /** The URL of the link whose label contains `label` (e.g. "bestätigen"); throws if none. */
  link(label) {
    const links = this.links();
    const hit = links.find((link) => link.label.toLowerCase().includes(label.toLowerCase()));
    if (!hit) {
      throw new Error(`no link labelled "${label}" in mail "${this.subject}" (${this.file}); links: ${JSON.stringify(links)}`);
    }
    return hit.url;
  }
}

/** The outbox directory of one server. */
export class Outbox {
  constructor(dir) {
    this.dir = dir;
  }

  /** Every mail, oldest first. */
  async all() {
    let names;
    try {
      names = (await readdir(this.dir)).filter((name) => name.endsWith('.eml'));
    } catch (error) {
      if (error.code === 'ENOENT') return [];
      throw error;
    }
    const files = await Promise.all(names.map(async (name) => {
      const file = path.join(this.dir, name);
      return { file, mtime: (await stat(file)).mtimeMs };
    }));
    files.sort((a, b) => a.mtime - b.mtime);
    return Promise.all(files.map(async ({ file }) => new Mail(file, await readFile(file, 'utf8'))));
  }

  /**
   * Waits for the newest mail that matches (`to` contained in the To header,
   * `subject` contained in the subject) and is not in `except` (files), and returns it.
   */
  async newest({ to, subject, except = [], timeoutMs = 15_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mails = (await this.all()).filter((mail) =>
        (!to || mail.to.includes(to)) &&
        (!subject || mail.subject.includes(subject)) &&
        !except.includes(mail.file));
      if (mails.length > 0) return mails[mails.length - 1];
      if (Date.now() > deadline) {
        const seen = (await this.all()).map((mail) => `${mail.to}: ${mail.subject}`);
        throw new Error(`no mail ${JSON.stringify({ to, subject })} in ${this.dir} within ${timeoutMs} ms; there are: ${JSON.stringify(seen)}`);
      }
      await sleep(100);
    }
  }
}
