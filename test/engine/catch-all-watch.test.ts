import { describe, expect, it } from 'vitest';

import {
  ACCEPTS_BEFORE_PROBE,
  CatchAllWatch,
  PROBE_PATIENCE_MS,
} from '../../src/engine/catch-all-watch.js';
import type { CatchAllMemory } from '../../src/verify/detect-catch-all.js';
import type { MailboxProbe } from '../../src/verify/judge-conversation.js';
import type { SocketTarget } from '../../src/verify/types.js';

const PRIMARY: SocketTarget = { host: 'mx1.example.test', ip: '192.0.2.1', port: 25 };
const BACKUP: SocketTarget = { host: 'mx2.example.test', ip: '192.0.2.2', port: 25 };

/** Answers as the engine hands them over; the texts are Postfix's. */
function answer(kind: 'accepted' | 'unknown' | 'greylisted', server = PRIMARY): MailboxProbe {
  const replies = {
    accepted: { code: 250, enhancedCode: '2.1.5', text: 'Ok' },
    unknown: {
      code: 550,
      enhancedCode: '5.1.1',
      text: '<nobody@example.test>: Recipient address rejected: User unknown',
    },
    greylisted: {
      code: 450,
      enhancedCode: '4.2.0',
      text: '<ann@example.test>: Recipient address rejected: Greylisted',
    },
  } as const;
  const findings = {
    accepted: { verdict: 'deliverable', reason: 'accepted' },
    unknown: { verdict: 'undeliverable', reason: 'mailbox_not_found' },
    greylisted: { verdict: 'unknown', reason: 'greylisted' },
  } as const;
  return {
    ...findings[kind],
    isAccepted: kind === 'accepted',
    answeredBy: server,
    evidence: {
      host: server.host,
      ip: server.ip,
      stage: 'rcpt',
      attempts: 1,
      ...replies[kind],
    },
  } as MailboxProbe;
}

interface Harness {
  watch: CatchAllWatch;
  probes: { domain: string; server: SocketTarget }[];
  remembered: Map<string, boolean>;
  advance(ms: number): void;
  /** What the next probe answers. */
  probeAnswer: { value: boolean | null };
}

function harness(recalled: Record<string, boolean> = {}): Harness {
  let now = 1_000_000;
  const probes: Harness['probes'] = [];
  const remembered = new Map<string, boolean>();
  const probeAnswer = { value: false as boolean | null };
  const memory: CatchAllMemory = {
    recall: async (domain) => recalled[domain] ?? null,
    remember: async (domain, isCatchAll) => void remembered.set(domain, isCatchAll),
  };
  const watch = new CatchAllWatch({
    clock: { now: () => now, sleep: async () => {} },
    memory,
    probe: async (domain, server) => {
      probes.push({ domain, server });
      return probeAnswer.value;
    },
  });
  return { watch, probes, remembered, advance: (ms) => void (now += ms), probeAnswer };
}

/** Lets the watch's promise chains run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** One recipient of the domain expected at PRIMARY and answered, as the engine reports it. */
function answered(watch: CatchAllWatch, kind: 'accepted' | 'unknown', server = PRIMARY) {
  watch.observe('example.test', answer(kind, server));
  watch.release('example.test', PRIMARY);
}

describe('CatchAllWatch', () => {
  it('decides "not catch-all" without a probe once a real recipient was refused as unknown', async () => {
    const { watch, probes, remembered } = harness();
    for (let index = 0; index < 3; index += 1) watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');

    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();
    answered(watch, 'unknown');

    await expect(decision).resolves.toBe(false);
    expect(probes).toEqual([]);
    expect(remembered.get('example.test')).toBe(false);
  });

  it('answers at once for a domain whose refusal came before the question', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    answered(watch, 'unknown');
    answered(watch, 'accepted');

    await expect(watch.isCatchAll('example.test', PRIMARY)).resolves.toBe(false);
    expect(probes).toEqual([]);
  });

  it(`probes after ${ACCEPTS_BEFORE_PROBE} accepted recipients and no refusal`, async () => {
    const { watch, probes, probeAnswer } = harness();
    probeAnswer.value = true;
    for (let index = 0; index < 10; index += 1) watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();
    for (let index = 1; index < ACCEPTS_BEFORE_PROBE - 1; index += 1) answered(watch, 'accepted');
    await settle();
    expect(probes).toEqual([]);

    answered(watch, 'accepted');
    await expect(decision).resolves.toBe(true);
    expect(probes).toEqual([{ domain: 'example.test', server: PRIMARY }]);
  });

  it('probes as soon as nothing else of the domain is waiting for an answer', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');

    await expect(watch.isCatchAll('example.test', PRIMARY)).resolves.toBe(false);
    expect(probes).toHaveLength(1);
  });

  it('does not count a recipient waiting out a greylisting delay as coming soon', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();
    expect(probes).toEqual([]);

    // The second recipient was deferred: the engine releases it until its retry.
    watch.release('example.test', PRIMARY);
    await expect(decision).resolves.toBe(false);
    expect(probes).toHaveLength(1);
  });

  it('waits again for a recipient whose greylisting retry is queued', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    // The second recipient was deferred, then its retry was queued.
    watch.release('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();
    expect(probes).toEqual([]);

    answered(watch, 'unknown');
    await expect(decision).resolves.toBe(false);
    expect(probes).toEqual([]);
  });

  it('probes a decision that waited past its patience at the next answer from the server', async () => {
    const { watch, probes, advance } = harness();
    for (let index = 0; index < 10; index += 1) watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();

    advance(PROBE_PATIENCE_MS - 1);
    watch.observe('other.test', answer('unknown'));
    expect(probes).toEqual([]);
    advance(1);
    watch.observe('other.test', answer('unknown'));

    await expect(decision).resolves.toBe(false);
    expect(probes).toEqual([{ domain: 'example.test', server: PRIMARY }]);
  });

  it("keeps what each server showed apart: the primary's refusal says nothing of the backup", async () => {
    const { watch, probes, probeAnswer } = harness();
    probeAnswer.value = true;
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    answered(watch, 'unknown');
    answered(watch, 'accepted', BACKUP);

    await expect(watch.isCatchAll('example.test', BACKUP)).resolves.toBe(true);
    expect(probes).toEqual([{ domain: 'example.test', server: BACKUP }]);
  });

  it('answers from memory without waiting or probing', async () => {
    const { watch, probes } = harness({ 'example.test': true });
    for (let index = 0; index < 5; index += 1) watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');

    await expect(watch.isCatchAll('example.test', PRIMARY)).resolves.toBe(true);
    expect(probes).toEqual([]);
  });

  it('asks once per domain and server, however many accepted recipients wait', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    answered(watch, 'accepted');

    const answers = await Promise.all([
      watch.isCatchAll('example.test', PRIMARY),
      watch.isCatchAll('example.test', PRIMARY),
    ]);
    expect(answers).toEqual([false, false]);
    expect(probes).toHaveLength(1);
  });

  it('answers null to waiting decisions when closed', async () => {
    const { watch, probes } = harness();
    for (let index = 0; index < 3; index += 1) watch.expect('example.test', PRIMARY);
    answered(watch, 'accepted');
    const decision = watch.isCatchAll('example.test', PRIMARY);
    await settle();

    watch.close();
    await expect(decision).resolves.toBeNull();
    expect(probes).toEqual([]);
  });

  it('learns nothing from a deferral', async () => {
    const { watch, probes } = harness();
    watch.expect('example.test', PRIMARY);
    watch.expect('example.test', PRIMARY);
    watch.release('example.test', PRIMARY);
    watch.observe('example.test', answer('greylisted'));
    answered(watch, 'accepted');

    await expect(watch.isCatchAll('example.test', PRIMARY)).resolves.toBe(false);
    expect(probes).toHaveLength(1);
  });
});
