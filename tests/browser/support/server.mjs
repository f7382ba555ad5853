// Starts one `terminagent serve --demo` of its own per test file: a fresh
// SQLite database and outbox in a unique temp dir, port 0, a random admin
// token. Waits for GET /readyz 200; stop() kills it and removes the dir.
// restart() (or kill() then start()) runs it again on the same port with the
// same database, outbox and admin token: what a crash or a deploy does.
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
 * One run of the binary: spawns it, collects its output into `lines`,
 * resolves `address` when it logs "listening" and `exited` when it ends.
 */
function spawnServer(bin, args, { cwd, env, lines }) {
  const child = spawn(bin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, exit: null, lines: [] };
  let resolveAddress;
  run.address = new Promise((resolve) => { resolveAddress = resolve; });
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
        run.lines.push(line);
        const address = listeningAddress(line);
        if (address) resolveAddress(address);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  run.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { run.exit = { code, signal }; resolve(run.exit); });
    child.on('error', (error) => { run.exit = { error: error.message }; resolve(run.exit); });
  });
  return run;
}

/** The server could not bind its address (another socket holds the port). */
const addressInUse = (run) => run.lines.some((line) => /address already in use|os error 98\b|EADDRINUSE/i.test(line));

/**
 * Starts the server. Returns { baseUrl, url(path), port, dir, outbox, adminToken,
 * log(), pid, kill(signal), start(), restart(options), stop() }.
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
  const argsFor = (bind) => [
    'serve',
    '--demo',
    '--bind', bind,
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
  // Every run's output, in order; a restart is marked by a line of its own.
  const lines = [];
  const log = () => lines.join('\n');
  let run = null;
  let baseUrl = null;

  /** Kills `run` (if still running) and waits until it is gone. */
  const killRun = async (target, signal) => {
    if (target.exit) return target.exit;
    target.child.kill(signal);
    if (signal === 'SIGKILL') return target.exited;
    const stopped = await Promise.race([target.exited, deadline(10_000).then(() => null)]);
    if (stopped) return stopped;
    target.child.kill('SIGKILL');
    return target.exited;
  };

  /**
   * One start on `bind`: resolves the base URL once /readyz answers 200.
   * Rejects with `{ inUse: true }` in the error when the port was taken.
   */
  const launch = async (bind) => {
    const args = argsFor(bind);
    const current = spawnServer(bin, args, { cwd: dir, env, lines });
    run = current;
    const fail = async (why) => {
      await killRun(current, 'SIGKILL');
      const error = new Error(`${why}\ncommand: ${bin} ${args.join(' ').replace(adminToken, '<token>')}\n--- server log ---\n${current.lines.slice(-40).join('\n')}`);
      error.inUse = addressInUse(current);
      throw error;
    };
    const address = await Promise.race([
      current.address,
      current.exited.then(() => null),
      deadline(timeoutMs).then(() => undefined),
    ]);
    if (address === null) await fail(`terminagent exited before listening (${JSON.stringify(current.exit)})`);
    if (address === undefined) await fail(`terminagent did not log "listening" within ${timeoutMs} ms`);
    const url = `http://${address}`;
    const readyBy = Date.now() + timeoutMs;
    for (;;) {
      if (current.exit) await fail(`terminagent exited before /readyz answered 200 (${JSON.stringify(current.exit)})`);
      try {
        const response = await fetch(`${url}/readyz`);
        if (response.status === 200) break;
      } catch {
        // Not accepting yet.
      }
      if (Date.now() > readyBy) await fail(`GET ${url}/readyz did not answer 200 within ${timeoutMs} ms`);
      await sleep(100);
    }
    return url;
  };

  try {
    baseUrl = await launch('127.0.0.1:0');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const { host: bindAddress, port } = new URL(baseUrl);

  const server = {
    baseUrl,
    url: (pathname) => new URL(pathname, baseUrl).href,
    /** The port of the first start; every restart binds it again. */
    port: Number(port),
    dir,
    outbox: new Outbox(outboxDir),
    adminToken,
    log,
    /** The running process's id (null while it is down). */
    get pid() { return run && !run.exit ? run.child.pid : null; },
    /** True while the process runs. */
    get running() { return Boolean(run && !run.exit); },

    /**
     * Ends the process with `signal` (SIGKILL: a crash, nothing flushed or
     * closed politely; SIGTERM: a graceful stop, SIGKILL after 10 s) and waits
     * until it has exited. Answers how it ended ({ code, signal }).
     */
    async kill(signal = 'SIGTERM') {
      if (!run) return null;
      const ended = await killRun(run, signal);
      lines.push(`--- browser tests: server ended by ${signal} (${JSON.stringify(ended)}) ---`);
      return ended;
    },

    /**
     * Starts the process again on the same port, database, outbox and admin
     * token and waits for /readyz. The kernel may still hold the port for a
     * moment (TIME_WAIT is no obstacle: tokio binds with SO_REUSEADDR, but
     * another process may have been given the port): a refused bind is tried
     * again until `timeoutMs`.
     */
    async start() {
      if (run && !run.exit) throw new Error('server.start(): the server is still running; kill() or restart() it');
      const until = Date.now() + timeoutMs;
      for (let attempt = 1; ; attempt += 1) {
        lines.push(`--- browser tests: server start ${attempt} on ${bindAddress} ---`);
        try {
          const url = await launch(bindAddress);
          if (url !== baseUrl) throw new Error(`the restarted server listens on ${url}, not ${baseUrl}`);
          return server;
        } catch (error) {
          if (!error.inUse || Date.now() > until) throw error;
          await sleep(250);
        }
      }
    },

    /**
     * kill(signal), then `whileDown()` (if given: look at the pages while no
     * server answers), then start(). Answers the server.
     */
    async restart({ signal = 'SIGKILL', whileDown } = {}) {
      await server.kill(signal);
      let failure = null;
      try {
        if (whileDown) await whileDown();
      } catch (error) {
        failure = error;
      }
      // Up again even when whileDown() failed, so the file's later tests still have a server.
      try {
        await server.start();
      } catch (error) {
        if (!failure) throw error;
        failure.message += `\n(and the server did not start again: ${error.message})`;
      }
      if (failure) throw failure;
      return server;
    },

    /** Ends the process (SIGTERM, then SIGKILL) and removes the temp dir. */
    async stop() {
      if (run && !run.exit) await killRun(run, 'SIGTERM');
      if (process.env.BROWSER_TEST_KEEP_TMP) {
        console.log(`# kept ${dir}`);
      } else {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  return server;
}
