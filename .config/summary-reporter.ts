/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped",
 * after vitest's own summary, for tools that read a run's last line.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const testModule of testModules) {
      const failedBefore = counts.failed;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed += 1;
        else if (state === 'failed') counts.failed += 1;
        else counts.skipped += 1;
      }
      // A file whose setup or import failed counts as one failure.
      const hasOwnFailure = counts.failed > failedBefore;
      if (testModule.state() === 'failed' && !hasOwnFailure) counts.failed += 1;
    }
    const line = `tests: ${counts.passed} passed, ${counts.failed} failed`;
    process.stdout.write(`\n${counts.skipped ? `${line}, ${counts.skipped} skipped` : line}\n`);
  }
}
