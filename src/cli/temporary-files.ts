/**
 * Temporary files of a run (the spooled standard input, the output before
 * its rename), removed however the run ends: normally, by an error, or on
 * the way out of a second Ctrl-C, which is why removal is synchronous.
 */
export class TemporaryFiles {
  private readonly removals: (() => void)[] = [];

  add(removal: () => void): void {
    this.removals.push(removal);
  }

  removeAll(): void {
    for (let removal = this.removals.pop(); removal; removal = this.removals.pop()) {
      removal();
    }
  }
}
