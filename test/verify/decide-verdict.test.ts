import { describe, expect, it } from 'vitest';

import { decideVerdict, scoreResult } from '../../src/verify/decide-verdict.js';
import type { Flags } from '../../src/verify/types.js';

const plain: Flags = {
  role: false,
  free: false,
  disposable: false,
  catchAll: false,
  smtputf8: false,
};

describe('decideVerdict', () => {
  it('keeps an accepted mailbox deliverable on a domain that is not catch-all', () => {
    const finding = decideVerdict({ verdict: 'deliverable', reason: 'accepted' }, plain);
    expect(finding).toEqual({ verdict: 'deliverable', reason: 'accepted' });
  });

  it('makes an accepted mailbox on a catch-all domain risky', () => {
    const flags = { ...plain, catchAll: true };
    const finding = decideVerdict({ verdict: 'deliverable', reason: 'accepted' }, flags);
    expect(finding).toEqual({ verdict: 'risky', reason: 'catch_all' });
  });

  it('makes an accepted mailbox at a disposable domain risky, even when catch-all', () => {
    const flags = { ...plain, disposable: true, catchAll: true };
    const finding = decideVerdict({ verdict: 'deliverable', reason: 'accepted' }, flags);
    expect(finding).toEqual({ verdict: 'risky', reason: 'disposable' });
  });

  it('leaves a refused mailbox at a disposable domain undeliverable', () => {
    const flags = { ...plain, disposable: true };
    const finding = decideVerdict({ verdict: 'undeliverable', reason: 'mailbox_not_found' }, flags);
    expect(finding.verdict).toBe('undeliverable');
  });

  it('never turns an unknown answer into undeliverable', () => {
    const flags = { ...plain, disposable: true, catchAll: true, role: true };
    const finding = decideVerdict({ verdict: 'unknown', reason: 'blocked' }, flags);
    expect(finding).toEqual({ verdict: 'unknown', reason: 'blocked' });
  });
});

describe('scoreResult', () => {
  it('ranks deliverable above risky above unknown above undeliverable', () => {
    const deliverable = scoreResult({ verdict: 'deliverable', reason: 'accepted' }, plain);
    const risky = scoreResult({ verdict: 'risky', reason: 'catch_all' }, plain);
    const unknown = scoreResult({ verdict: 'unknown', reason: 'timeout' }, plain);
    const undeliverable = scoreResult(
      { verdict: 'undeliverable', reason: 'mailbox_not_found' },
      plain,
    );
    expect(deliverable).toBeGreaterThan(risky);
    expect(risky).toBeGreaterThan(unknown);
    expect(unknown).toBeGreaterThan(undeliverable);
  });

  it('lowers the score of role accounts', () => {
    const finding = { verdict: 'deliverable', reason: 'accepted' } as const;
    expect(scoreResult(finding, { ...plain, role: true })).toBeLessThan(
      scoreResult(finding, plain),
    );
  });

  it('keeps undeliverable scores at 5 or below', () => {
    const score = scoreResult({ verdict: 'undeliverable', reason: 'smtputf8_unsupported' }, plain);
    expect(score).toBeLessThanOrEqual(5);
  });
});
