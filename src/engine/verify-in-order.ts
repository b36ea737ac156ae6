/**
 * Verifies a stream of addresses with bounded concurrency and yields the
 * results in input order, each as soon as it and all before it are known.
 * The same input string is verified once.
 *
 * TODO: the map of inputs seen grows with the number of distinct inputs, so
 * a very long standard input costs memory in proportion; bulk files belong
 * to the bulk engine, which streams.
 */
import type { VerificationResult } from '../verify/types.js';
import type { VerifyOne } from './cached-verifier.js';

export async function* verifyInOrder(
  emails: AsyncIterable<string> | Iterable<string>,
  verify: VerifyOne,
  concurrency: number,
): AsyncGenerator<VerificationResult> {
  const pending: Promise<VerificationResult>[] = [];
  const byInput = new Map<string, Promise<VerificationResult>>();
  const running = new Set<Promise<unknown>>();

  for await (const email of emails) {
    let result = byInput.get(email);
    if (!result) {
      while (running.size >= concurrency) await Promise.race(running);
      result = verify(email);
      byInput.set(email, result);
      const settled: Promise<unknown> = result.then(
        () => running.delete(settled),
        () => running.delete(settled),
      );
      running.add(settled);
    }
    pending.push(result);

    while (pending.length > 0 && (await isSettled(pending[0]!))) {
      yield await pending.shift()!;
    }
  }

  while (pending.length > 0) yield await pending.shift()!;
}

async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    Promise.resolve(marker),
  ]);
  return winner !== marker;
}
