/**
 * What Ctrl-C does to a file run, by phase. Before verifying and after
 * writing: quit at once. While verifying: stop taking rows, then write the
 * rows verified so far. While writing: stop there, keeping what is written.
 * A second Ctrl-C always quits at once.
 */
import type { ProgressStream } from './progress-reporter.js';

export type RunPhase = 'prepare' | 'verify' | 'write' | 'done';

export class RunControl {
  readonly verifying = new AbortController();
  readonly writing = new AbortController();
  private phase: RunPhase = 'prepare';
  private interruptions = 0;

  constructor(
    private readonly stderr: ProgressStream,
    private readonly quit: () => void,
  ) {}

  get wasInterrupted(): boolean {
    return this.interruptions > 0;
  }

  enter(phase: RunPhase): void {
    this.phase = phase;
  }

  interrupt(): void {
    this.interruptions += 1;
    const isWorking = this.phase === 'verify' || this.phase === 'write';
    if (this.interruptions > 1 || !isWorking) {
      this.quit();
      return;
    }

    // On a terminal the progress line is still open: end it first.
    const newline = this.stderr.isTTY ? '\n' : '';
    const next = this.phase === 'verify' ? 'writing the rows verified so far' : 'stopping';
    this.stderr.write(`${newline}mailverify: interrupted; ${next} (Ctrl-C again to quit now)\n`);
    if (this.phase === 'verify') this.verifying.abort();
    else this.writing.abort();
  }
}
