/**
 * An optional cap on RCPTs per second to one domain: each domain has the
 * time of its next free slot, spaced 1/rate apart. A rate of 0 is no cap.
 */
export class DomainRate {
  private readonly nextFreeAt = new Map<string, number>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {}

  get isLimited(): boolean {
    return this.perSecond > 0;
  }

  /** Takes a slot for the domain if one is free now. */
  tryTake(domain: string): boolean {
    if (!this.isLimited) return true;

    const now = this.now();
    const freeAt = this.nextFreeAt.get(domain) ?? now;
    if (freeAt > now) return false;

    this.nextFreeAt.set(domain, Math.max(freeAt, now) + 1000 / this.perSecond);
    return true;
  }

  /** Milliseconds until the domain has a free slot (0 when it has one). */
  waitFor(domain: string): number {
    if (!this.isLimited) return 0;
    return Math.max(0, (this.nextFreeAt.get(domain) ?? 0) - this.now());
  }
}
