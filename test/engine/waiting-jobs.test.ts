import { describe, expect, it } from 'vitest';

import { createRcptJob } from '../../src/engine/rcpt-job.js';
import type { RcptJob } from '../../src/engine/rcpt-job.js';
import { WaitingJobs } from '../../src/engine/waiting-jobs.js';

function job(recipient: string, needsSmtpUtf8 = false): RcptJob {
  const domain = recipient.slice(recipient.indexOf('@') + 1);
  const settle = () => undefined;
  return createRcptJob({ recipient, domain, needsSmtpUtf8, targets: [], isProbe: false, settle });
}

const anyJob = () => true;
const names = (jobs: RcptJob[]) => jobs.map((taken) => taken.recipient);

function filled(...recipients: string[]): WaitingJobs {
  const waiting = new WaitingJobs();
  for (const recipient of recipients) waiting.push(job(recipient), false);
  return waiting;
}

describe('WaitingJobs', () => {
  it('takes one job from each domain in turn, each domain in arrival order', () => {
    const waiting = filled('a1@a.test', 'a2@a.test', 'a3@a.test', 'b1@b.test', 'c1@c.test');

    expect(names(waiting.take(4, anyJob, 100))).toEqual([
      'a1@a.test',
      'b1@b.test',
      'c1@c.test',
      'a2@a.test',
    ]);
    expect(waiting.size).toBe(1);
    expect(names(waiting.take(4, anyJob, 100))).toEqual(['a3@a.test']);
    expect(waiting.size).toBe(0);
    expect(waiting.first()).toBeUndefined();
  });

  it('gives jobs handed back first, then hurried domains, then the rest', () => {
    const waiting = filled('a1@a.test', 'b1@b.test', 'b2@b.test', 'c1@c.test');
    waiting.hurry('b.test');
    waiting.push(job('b3@b.test'), true);
    waiting.putBack([job('x@c.test')]);

    expect(waiting.first()?.recipient).toBe('x@c.test');
    expect(names(waiting.drain())).toEqual([
      'x@c.test',
      'b1@b.test',
      'b2@b.test',
      'b3@b.test',
      'a1@a.test',
      'c1@c.test',
    ]);
    expect(waiting.size).toBe(0);
  });

  it('passes over jobs that do not fit and keeps them for a later take', () => {
    const waiting = new WaitingJobs();
    waiting.push(job('plain@a.test'), false);
    waiting.push(job('jörg@b.test', true), false);
    waiting.push(job('plain2@a.test'), false);
    const plainOnly = (candidate: RcptJob) => !candidate.needsSmtpUtf8;

    expect(names(waiting.take(5, plainOnly, 100))).toEqual(['plain@a.test', 'plain2@a.test']);
    expect(names(waiting.take(5, anyJob, 100))).toEqual(['jörg@b.test']);
  });

  it('stops after looking at scanLimit jobs', () => {
    const waiting = filled('a@a.test', 'b@b.test', 'c@c.test', 'd@d.test');
    let looked = 0;
    const refuseAll = () => {
      looked += 1;
      return false;
    };

    expect(waiting.take(4, refuseAll, 3)).toEqual([]);
    expect(looked).toBe(3);
    expect(waiting.size).toBe(4);
  });

  it('lists the waiting domains, urgent first, and stays in order over many takes', () => {
    const waiting = new WaitingJobs();
    const count = 5_000;
    for (let index = 0; index < count; index += 1) waiting.push(job(`u${index}@a.test`), false);
    waiting.push(job('first@b.test'), true);
    expect([...waiting.domains()]).toEqual(['b.test', 'a.test']);

    const taken: string[] = [];
    while (waiting.size > 0) taken.push(...names(waiting.take(7, anyJob, 100)));
    expect(taken[0]).toBe('first@b.test');
    expect(taken.slice(1)).toEqual(Array.from({ length: count }, (_, index) => `u${index}@a.test`));
  });
});
