/**
 * A private Postfix instance on loopback for end-to-end tests, started and
 * stopped here; what it is configured as lives in postfix-config.ts. Its
 * configuration, queue and data directories sit under a fresh temporary
 * directory, and its self-signed certificate is made there too.
 *
 * Postfix runs an extra instance from a non-default configuration directory
 * with `postfix -c DIR start` (MULTI_INSTANCE_README); only root may start
 * one, as in CI. `alternate_config_directories` is not needed: it only
 * guards the set-gid commands (postdrop, postqueue), which we never run.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import {
  readPostfixSettings,
  renderMasterCf,
  writePostfixConfiguration,
} from './postfix-config.js';
import type { PostfixLayout, PostfixOptions } from './postfix-config.js';

export type { PostfixOptions } from './postfix-config.js';

export interface RunningPostfix {
  ip: string;
  port: number;
  hostname: string;
  configDir: string;
  /** Postfix's own log of this instance (`maillog_file`). */
  maillogFile: string;
  stop(): Promise<void>;
}

/** `postfix start` runs `postfix check`, which builds the queue tree first. */
const POSTFIX_COMMAND_TIMEOUT_MS = 30_000;
const OPENSSL_TIMEOUT_MS = 15_000;

/** How long the smtpd may take to greet once the master is up. */
const BANNER_WAIT_MS = 10_000;
const BANNER_ATTEMPT_TIMEOUT_MS = 2_000;
const BANNER_RETRY_DELAY_MS = 100;
const MAX_BANNER_BYTES = 4_096;

/** Daemons still alive this long after SIGTERM get SIGKILL. */
const LEFTOVER_GRACE_MS = 2_000;
const LEFTOVER_POLL_MS = 50;

/** Another process may take a probed free port before master binds it. */
const MAX_PORT_ATTEMPTS = 5;
const LOG_TAIL_LINES = 30;

const TEMP_PREFIX = 'mailverify-postfix-';
const OWNER_PID_FILE = 'owner.pid';
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const INSTALL_HINT = 'run `bash .ci/run` or `apt-get install postfix openssl` as root';

interface CommandResult {
  isOk: boolean;
  output: string;
}

const liveInstances = new Set<PostfixLayout>();
let isExitHookInstalled = false;

export function isPostfixInstalled(): boolean {
  return findExecutable('postfix') !== undefined;
}

export async function startPostfix(options: PostfixOptions): Promise<RunningPostfix> {
  const settings = readPostfixSettings(options);
  const postfix = requireExecutable('postfix');
  const openssl = requireExecutable('openssl');
  if (process.getuid?.() !== 0) {
    throw new Error('`postfix -c DIR start` needs root for a private instance');
  }

  await stopOrphanedInstances();
  const layout = await createLayout();
  installExitHook();
  liveInstances.add(layout);

  const stop = once(() => stopInstance(postfix, layout));
  try {
    await writePostfixConfiguration(layout, settings);
    await generateCertificate(openssl, layout.configDir, settings.hostname);
    const port = await startMaster(postfix, layout, settings.ip, options.port);
    await waitForBanner(layout, settings.ip, port);
    const { ip, hostname } = settings;
    return {
      ip,
      port,
      hostname,
      configDir: layout.configDir,
      maillogFile: layout.maillogFile,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createLayout(): Promise<PostfixLayout> {
  const rootDir = await mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
  const configDir = path.join(rootDir, 'etc');
  await mkdir(configDir, { mode: 0o755 });
  // `postfix check` creates the queue tree inside this directory, not the directory.
  await mkdir(path.join(rootDir, 'queue'), { mode: 0o755 });

  // The daemons run as the postfix user; mkdtemp's 0700 would lock them out.
  await chmod(rootDir, 0o755);
  await writeFile(path.join(rootDir, OWNER_PID_FILE), `${process.pid}\n`);

  return { rootDir, configDir, maillogFile: path.join(rootDir, 'maillog') };
}

async function generateCertificate(openssl: string, configDir: string, hostname: string) {
  const result = await run(
    openssl,
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
      ...['-nodes', '-days', '2', '-subj', `/CN=${hostname}`],
      ...['-keyout', path.join(configDir, 'key.pem')],
      ...['-out', path.join(configDir, 'cert.pem')],
    ],
    OPENSSL_TIMEOUT_MS,
  );
  if (!result.isOk) throw new Error(`openssl made no certificate:\n${result.output}`);
}

/** Binds the listener; with a port of our own choosing, retries when it was taken. */
async function startMaster(
  postfix: string,
  layout: PostfixLayout,
  ip: string,
  requestedPort: number | undefined,
): Promise<number> {
  const attempts = requestedPort === undefined ? MAX_PORT_ATTEMPTS : 1;
  let failure = '';

  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const port = requestedPort ?? (await findFreePort(ip));
    await writeFile(path.join(layout.configDir, 'master.cf'), renderMasterCf(ip, port));

    const result = await run(
      postfix,
      ['-c', layout.configDir, 'start'],
      POSTFIX_COMMAND_TIMEOUT_MS,
    );
    if (result.isOk) return port;

    failure = `${result.output}\n${await readLogTail(layout)}`;
    if (!failure.includes('Address already in use')) break;
    await stopDaemons(postfix, layout);
  }

  throw new Error(`postfix did not start (${layout.configDir}):\n${failure}`);
}

async function findFreePort(ip: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, ip, resolve);
  });

  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port bound');
  return address.port;
}

async function waitForBanner(layout: PostfixLayout, ip: string, port: number) {
  const deadline = Date.now() + BANNER_WAIT_MS;
  let lastProblem = 'no attempt made';

  while (Date.now() < deadline) {
    const line = await readBanner(ip, port);
    if (line !== null && /^220[ -]/.test(line)) return;

    lastProblem = line === null ? 'no banner' : `unexpected banner: ${line}`;
    if (line !== null) break;
    await sleep(BANNER_RETRY_DELAY_MS);
  }

  const tail = await readLogTail(layout);
  const where = `${ip}:${port}`;
  throw new Error(`postfix on ${where} did not greet with 220 (${lastProblem}):\n${tail}`);
}

/** The first reply line, or null when the connection failed or stayed silent. */
function readBanner(ip: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    let received = '';

    const finish = (line: string | null) => {
      socket.removeAllListeners('data');
      if (line === null) socket.destroy();
      else socket.end('QUIT\r\n');
      resolve(line);
    };

    socket.setTimeout(BANNER_ATTEMPT_TIMEOUT_MS, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(received.slice(0, end));
      else if (received.length > MAX_BANNER_BYTES) finish(received.slice(0, 80));
    });
  });
}

async function stopInstance(postfix: string, layout: PostfixLayout) {
  await stopDaemons(postfix, layout);
  await rm(layout.rootDir, { recursive: true, force: true });
  liveInstances.delete(layout);
}

/** `postfix stop` first; any daemon of this instance still alive is then killed. */
async function stopDaemons(postfix: string, layout: PostfixLayout) {
  const hasMaster = await fileExists(masterPidFile(layout));
  if (hasMaster) {
    await run(postfix, ['-c', layout.configDir, 'stop'], POSTFIX_COMMAND_TIMEOUT_MS);
  }

  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  signalInstance(layout.configDir, 'SIGTERM');
  while (findInstancePids(layout.configDir).length > 0 && Date.now() < deadline) {
    await sleep(LEFTOVER_POLL_MS);
  }
  signalInstance(layout.configDir, 'SIGKILL');
}

/**
 * Every Postfix daemon inherits MAIL_CONFIG from `postfix -c DIR`
 * (import_environment), which names the instance it belongs to.
 */
function findInstancePids(configDir: string): number[] {
  const marker = Buffer.from(`MAIL_CONFIG=${configDir}\0`);
  const pids: number[] = [];

  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environment = readFileSync(`/proc/${entry}/environ`);
      if (environment.includes(marker)) pids.push(Number(entry));
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return pids;
}

function signalInstance(configDir: string, signal: NodeJS.Signals) {
  for (const pid of findInstancePids(configDir)) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** What `postfix stop` sends: the master then terminates its own daemons. */
function signalMaster(layout: PostfixLayout, signal: NodeJS.Signals) {
  try {
    const pid = Number(readFileSync(masterPidFile(layout), 'utf8').trim());
    if (findInstancePids(layout.configDir).includes(pid)) process.kill(pid, signal);
  } catch {
    // No master, or already gone.
  }
}

function masterPidFile(layout: PostfixLayout): string {
  return path.join(layout.rootDir, 'queue', 'pid', 'master.pid');
}

/** A test process that died without stop() leaves a master behind; clear those. */
async function stopOrphanedInstances() {
  const tempDir = os.tmpdir();
  const entries = await readdir(tempDir).catch(() => []);

  for (const entry of entries.filter((name) => name.startsWith(TEMP_PREFIX))) {
    const rootDir = path.join(tempDir, entry);
    const ownerFile = path.join(rootDir, OWNER_PID_FILE);
    const owner = await readFile(ownerFile, 'utf8').catch(() => '');
    if (owner === '' || isProcessAlive(Number(owner.trim()))) continue;

    signalInstance(path.join(rootDir, 'etc'), 'SIGKILL');
    await rm(rootDir, { recursive: true, force: true });
  }
}

/** Synchronous, for process exit, when no promise can settle any more. */
function installExitHook() {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;

  process.once('exit', () => {
    for (const layout of liveInstances) {
      const deadline = Date.now() + LEFTOVER_GRACE_MS;
      signalMaster(layout, 'SIGTERM');
      while (findInstancePids(layout.configDir).length > 0 && Date.now() < deadline) {
        sleepSync(LEFTOVER_POLL_MS);
      }
      signalInstance(layout.configDir, 'SIGKILL');
      rmSync(layout.rootDir, { recursive: true, force: true });
    }
  });
}

async function readLogTail(layout: PostfixLayout): Promise<string> {
  const log = await readFile(layout.maillogFile, 'utf8').catch(() => '(no maillog yet)');
  return log.split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

function findExecutable(name: string): string | undefined {
  const pathDirs = (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...pathDirs, ...SBIN_DIRS]) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

function requireExecutable(name: string): string {
  const found = findExecutable(name);
  if (found === undefined) throw new Error(`${name} is not installed: ${INSTALL_HINT}`);
  return found;
}

function run(file: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ isOk: error === null, output: `${stdout}${stderr}`.trim() });
    });
  });
}

function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function fileExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function once(action: () => Promise<void>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => (pending ??= action());
}

function sleepSync(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
