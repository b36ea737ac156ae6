/**
 * The recipients waiting at one mail server, in one line per domain, taken
 * in turn across the domains rather than in arrival order. A run's first
 * sessions then reach every domain early, which finds the greylisting and
 * catch-all domains while there is still a run to overlap with, and no
 * domain takes a server's whole attention. Jobs handed back come first,
 * then the domains marked urgent, then the rest.
 */
import type { RcptJob } from './rcpt-job.js';

/** A line drops the jobs taken off its front once they are this many. */
const COMPACT_AFTER = 1_024;

class Line {
  /** Slots before `head` are emptied as jobs leave, so a taken job is not kept alive. */
  private jobs: (RcptJob | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.jobs.length - this.head;
  }

  peek(): RcptJob | undefined {
    return this.jobs[this.head];
  }

  push(job: RcptJob): void {
    this.jobs.push(job);
  }

  shift(): RcptJob | undefined {
    const job = this.jobs[this.head];
    if (job === undefined) return undefined;
    this.jobs[this.head] = undefined;
    this.head += 1;
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
    return job;
  }

  drain(): RcptJob[] {
    const jobs = this.jobs.slice(this.head) as RcptJob[];
    this.jobs = [];
    this.head = 0;
    return jobs;
  }
}

/** Domains in turn: the Map's order is the turn, a domain served goes last. */
class Rotation {
  private readonly lines = new Map<string, Line>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get domains(): IterableIterator<string> {
    return this.lines.keys();
  }

  push(job: RcptJob): void {
    let line = this.lines.get(job.domain);
    if (!line) {
      line = new Line();
      this.lines.set(job.domain, line);
    }
    line.push(job);
    this.count += 1;
  }

  first(): RcptJob | undefined {
    const line: Line | undefined = this.lines.values().next().value;
    return line?.peek();
  }

  /**
   * One job from each domain in turn while `fits` accepts them, until
   * `max` are taken, every domain has been passed over once in a row, or
   * `scan.left` runs out.
   */
  take(taken: RcptJob[], max: number, fits: Fit, scan: { left: number }): void {
    let passedOver = 0;
    while (taken.length < max && passedOver < this.lines.size && scan.left > 0) {
      scan.left -= 1;
      const [domain, line] = this.lines.entries().next().value as [string, Line];
      this.lines.delete(domain);
      const job = line.peek()!;
      if (fits(job)) {
        line.shift();
        this.count -= 1;
        taken.push(job);
        passedOver = 0;
      } else {
        passedOver += 1;
      }
      if (line.size > 0) this.lines.set(domain, line);
    }
  }

  /** Takes a domain's whole line out of the rotation. */
  remove(domain: string): RcptJob[] {
    const line = this.lines.get(domain);
    if (!line) return [];
    this.lines.delete(domain);
    this.count -= line.size;
    return line.drain();
  }

  drain(): RcptJob[] {
    const jobs: RcptJob[] = [];
    for (const line of this.lines.values()) jobs.push(...line.drain());
    this.lines.clear();
    this.count = 0;
    return jobs;
  }
}

export type Fit = (job: RcptJob) => boolean;

export class WaitingJobs {
  private handedBack: RcptJob[] = [];
  private readonly urgent = new Rotation();
  private readonly regular = new Rotation();

  get size(): number {
    return this.handedBack.length + this.urgent.size + this.regular.size;
  }

  /** The job a take would consider first. */
  first(): RcptJob | undefined {
    return this.handedBack[0] ?? this.urgent.first() ?? this.regular.first();
  }

  push(job: RcptJob, isUrgent: boolean): void {
    (isUrgent ? this.urgent : this.regular).push(job);
  }

  /** Jobs taken but never asked go back to the very front. */
  putBack(jobs: RcptJob[]): void {
    this.handedBack = [...jobs, ...this.handedBack];
  }

  /** From now on this domain's waiting jobs come before the regular ones. */
  hurry(domain: string): void {
    for (const job of this.regular.remove(domain)) this.urgent.push(job);
  }

  /** Up to `max` jobs that `fits` accepts, looking at no more than `scanLimit`. */
  take(max: number, fits: Fit, scanLimit: number): RcptJob[] {
    const taken: RcptJob[] = [];
    const scan = { left: scanLimit };
    const kept: RcptJob[] = [];
    for (const job of this.handedBack) {
      if (taken.length < max && scan.left > 0 && fits(job)) taken.push(job);
      else kept.push(job);
      scan.left -= 1;
    }
    this.handedBack = kept;
    this.urgent.take(taken, max, fits, scan);
    this.regular.take(taken, max, fits, scan);
    return taken;
  }

  /** The domains with jobs waiting, urgent ones first. */
  *domains(): Generator<string> {
    for (const job of this.handedBack) yield job.domain;
    yield* this.urgent.domains;
    yield* this.regular.domains;
  }

  drain(): RcptJob[] {
    const jobs = [...this.handedBack, ...this.urgent.drain(), ...this.regular.drain()];
    this.handedBack = [];
    return jobs;
  }
}
