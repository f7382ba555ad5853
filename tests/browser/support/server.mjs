// Starts one `terminagent serve --demo` of its own per test file: a fresh
// SQLite database and outbox in a unique temp dir, port 0, a random admin
// token. Waits for GET /readyz 200; stop() kills it and removes the dir.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Outbox } from './mail.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The binary under test: $TERMINAGENT_BIN, else target/debug/terminagent. */
export function binaryPath() {
  return process.env.TERMINAGENT_BIN || path.join(REPO, 'target/debug/terminagent');
}

/** The bound address in a "listening" log line, text (`address=…`) or JSON (`"address":"…"`). */
function listeningAddress(line) {
  if (!line.includes('listening')) return null;
  const match = line.match(/"address":"([^"]+)"/) || line.match(/\baddress=(\S+)/);
  // Text logs may carry ANSI colour codes when stderr is a terminal (it is not here).
  return match ? match[1].replace(/\x1b\[[0-9;]*m/g, '') : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves after `ms` without keeping the process alive (for races against a deadline). */
const deadline = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * Starts the server. Returns { baseUrl, url(path), dir, outbox, adminToken, log(), stop() }.
 * `extraArgs` are appended to the command line (e.g. ['--confirm-ttl', '5s']).
 */
export async function startServer({ extraArgs = [], timeoutMs = 30_000 } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`terminagent binary not found at ${bin}: build it (cargo build -p terminagent --bins) or set TERMINAGENT_BIN`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'terminagent-browser-'));
  const outboxDir = path.join(dir, 'outbox');
  // 40 hex digits (never starting with '-', which clap would take for a flag).
  const adminToken = randomBytes(20).toString('hex');
  const args = [
    'serve',
    '--demo',
    '--bind', '127.0.0.1:0',
    '--database-url', `sqlite://${path.join(dir, 't.db')}`,
    '--mail', `file:${outboxDir}`,
    `--admin-token=${adminToken}`,
    ...extraArgs,
  ];
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' };
  delete env.RUST_BACKTRACE;
  for (const name of Object.keys(env)) {
    // The binary reads TERMINAGENT_* settings from the environment; only the command line counts here.
    if (name.startsWith('TERMINAGENT_')) delete env[name];
  }
  const child = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let exited = null;
  let resolveAddress;
  const addressSeen = new Promise((resolve) => { resolveAddress = resolve; });
  const collect = (stream) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      rest += chunk;
      let newline;
      while ((newline = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, newline);
        rest = rest.slice(newline + 1);
        lines.push(line);
        const address = listeningAddress(line);
        if (address) resolveAddress(address);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exitedPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); });
    child.on('error', (error) => { exited = { error }; resolve(exited); });
  });
  const log = () => lines.join('\n');
  const fail = async (why) => {
    child.kill('SIGKILL');
    await exitedPromise;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${why}\ncommand: ${bin} ${args.join(' ').replace(adminToken, '<token>')}\n--- server log ---\n${log().split('\n').slice(-40).join('\n')}`);
  };

  const address = await Promise.race([
    addressSeen,
    exitedPromise.then(() => null),
    deadline(timeoutMs).then(() => undefined),
  ]);
  if (address === null) await fail(`terminagent exited before listening (${JSON.stringify(exited)})`);
  if (address === undefined) await fail(`terminagent did not log "listening" within ${timeoutMs} ms`);
  const baseUrl = `http://${address}`;

  const readyBy = Date.now() + timeoutMs;
  for (;;) {
    if (exited) await fail(`terminagent exited before /readyz answered 200 (${JSON.stringify(exited)})`);
    try {
      const response = await fetch(`${baseUrl}/readyz`);
      if (response.status === 200) break;
    } catch {
      // Not accepting yet.
    }
    if (Date.now() > readyBy) await fail(`GET ${baseUrl}/readyz did not answer 200 within ${timeoutMs} ms`);
    await sleep(100);
  }

  return {
    baseUrl,
    url: (pathname) => new URL(pathname, baseUrl).href,
    dir,
    outbox: new Outbox(outboxDir),
    adminToken,
    log,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([exitedPromise, deadline(10_000).then(() => false)]);
        if (!stopped) {
          child.kill('SIGKILL');
          await exitedPromise;
        }
      }
      if (process.env.BROWSER_TEST_KEEP_TMP) {
        console.log(`# kept ${dir}`);
      } else {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
