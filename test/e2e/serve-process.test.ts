/**
 * The built `mailverify serve` as a child process: the listening line, a
 * first verification over HTTP with a key made by `mailverify keys`, a
 * clean exit on SIGTERM, an immediate one on a second signal, and exit
 * status 2 for bad configuration. `npm test` builds before testing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  BUILT_CLI,
  createKeyWithCli,
  isBuilt,
  startServiceProcess,
} from '../helpers/service-process.js';
import type { ServiceProcess } from '../helpers/service-process.js';
import { startTestWorld } from '../helpers/test-world.js';
import type { TestWorld } from '../helpers/test-world.js';

let world: TestWorld;
let folder: string;
const children: ServiceProcess[] = [];

beforeAll(async () => {
  if (!isBuilt()) throw new Error(`${BUILT_CLI} is missing: run npm run build first`);
  world = await startTestWorld(
    {
      '127.0.0.64': { kind: 'smtp', mailboxes: ['ann'] },
      // Takes the connection and never says a word.
      '127.0.0.65': { kind: 'raw', onConnection: () => {} },
    },
    {
      'acme.test': { MX: [{ preference: 10, exchange: 'mx.acme.test' }] },
      'mx.acme.test': { A: ['127.0.0.64'] },
      'silent.test': { MX: [{ preference: 10, exchange: 'mx.silent.test' }] },
      'mx.silent.test': { A: ['127.0.0.65'] },
    },
  );
});
afterAll(() => world?.close());
afterEach(() => {
  children.splice(0).forEach((service) => service.child.kill('SIGKILL'));
  if (folder) rmSync(folder, { recursive: true, force: true });
});

function worldArgs(database: string): string[] {
  return [
    '--port',
    '0',
    '--database',
    database,
    '--allow-private-mx',
    '--dns-server',
    world.dns.server,
    '--smtp-port',
    String(world.port),
    '--helo',
    'verifier.mailverify.test',
    '--from',
    'probe@verifier.mailverify.test',
    '--greylist-retry',
    '0',
  ];
}

async function start(env: NodeJS.ProcessEnv = {}): Promise<ServiceProcess> {
  folder = mkdtempSync(join(tmpdir(), 'mailverify-serve-process-'));
  const service = await startServiceProcess(worldArgs(join(folder, 'service.db')), env);
  children.push(service);
  return service;
}

describe('mailverify serve as a process', () => {
  it('prints its URL, verifies with a key from `mailverify keys`, and exits 0 on SIGTERM', async () => {
    folder = mkdtempSync(join(tmpdir(), 'mailverify-serve-process-'));
    const database = join(folder, 'service.db');
    const key = await createKeyWithCli(database);
    const service = await startServiceProcess(worldArgs(database), {});
    children.push(service);
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const response = await fetch(`${service.url}/v1/verify?email=ann@acme.test`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });

    const startedAt = Date.now();
    service.child.kill('SIGTERM');
    expect(await service.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  it('exits at once with 143 on a second SIGTERM while work is still running', async () => {
    const service = await start({
      MAILVERIFY_REQUIRE_API_KEY: 'false',
      MAILVERIFY_SHUTDOWN_GRACE: '60',
      MAILVERIFY_API_TIMEOUT_MAX: '30',
    });
    // A request that holds the graceful stop open: it waits for a server that never answers.
    const silent = fetch(`${service.url}/v1/verify?email=x@silent.test&timeout=30`).catch(
      () => null,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));

    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(service.child.exitCode).toBeNull();
    service.child.kill('SIGTERM');

    expect(await service.exited).toEqual({ code: 143, signal: null });
    await silent;
  });

  it('exits with status 2 and names the option for a bad configuration', async () => {
    const run = promisify(execFile);
    const error = await run(process.execPath, [BUILT_CLI, 'serve', '--port', '0'], {
      env: { PATH: process.env.PATH, MAILVERIFY_API_TIMEOUT: 'soon' },
    }).catch((caught: unknown) => caught as { code: number; stderr: string });

    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('MAILVERIFY_API_TIMEOUT');
  });
});
