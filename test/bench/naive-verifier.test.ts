import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTcpOpener } from '../../src/verify/open-socket.js';
import { startBenchWorld } from './bench-world.js';
import type { BenchWorld, DomainKind } from './bench-world.js';
import { verifyNaively } from './naive-verifier.js';

let world: BenchWorld;

beforeAll(async () => {
  world = await startBenchWorld({ domains: 13, servers: 2, rttMs: 0, seed: 3, greylistSeconds: 1 });
});

afterAll(() => world.close());

function listed(kind: DomainKind, exists: boolean): string {
  for (let index = 0; index < 2_000; index += 1) {
    const email = world.addressAt(index);
    const truth = world.truthOf(email);
    if (truth.kind === kind && truth.exists === exists) return email;
  }
  throw new Error(`no ${kind} address with exists=${exists} in the first 2000`);
}

function verify(email: string) {
  const settings = { ...world.settings(), stepTimeoutMs: 5_000 };
  return verifyNaively(email, settings, { resolver: world.resolver, opener: createTcpOpener() });
}

describe('verifyNaively', () => {
  it('finds a listed mailbox deliverable over one connection and four commands', async () => {
    await world.reset();

    const outcome = await verify(listed('plain', true));

    expect(outcome).toMatchObject({
      verdict: 'deliverable',
      reason: 'accepted',
      connections: 1,
      commands: 4,
    });
    expect(await world.totals()).toMatchObject({ connections: 1, commands: 4, rcpts: 1 });
  });

  it('finds an unknown mailbox undeliverable', async () => {
    const outcome = await verify(listed('plain', false));

    expect(outcome).toMatchObject({ verdict: 'undeliverable', reason: 'mailbox_not_found' });
  });

  it('takes a catch-all domain at its word, having no catch-all probe', async () => {
    const outcome = await verify(listed('catch_all', false));

    expect(outcome).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
  });

  it('leaves a greylisted recipient unknown, having no retries', async () => {
    await world.reset();

    const outcome = await verify(listed('greylisting', true));

    expect(outcome).toMatchObject({ verdict: 'unknown', reason: 'greylisted' });
    expect((await world.totals()).rcpts).toBe(1);
  });

  it('finds an address at a domain that does not exist undeliverable', async () => {
    const outcome = await verify('ann@nowhere.test');

    expect(outcome).toMatchObject({ verdict: 'undeliverable', reason: 'domain_not_found' });
    expect(outcome.connections).toBe(0);
  });
});
