/**
 * Verifies a stream of addresses and yields the results in input order,
 * each as soon as it and all before it are known. At most `window`
 * addresses are in hand at once, so memory stays bounded however long the
 * input; a slow address (a greylisting retry) holds back the output after
 * it, and the reading once the window is full. Bulk files, which must not
 * wait, go through `mailverify file` instead.
 */
import type { VerificationResult } from '../verify/types.js';

export type VerifyOne = (email: string) => Promise<VerificationResult>;

export async function* verifyInOrder(
  emails: AsyncIterable<string> | Iterable<string>,
  verify: VerifyOne,
  window: number,
): AsyncGenerator<VerificationResult> {
  const pending: Promise<VerificationResult>[] = [];

  for await (const email of emails) {
    pending.push(verify(email));

    while (pending.length > 0 && (await isSettled(pending[0]!))) {
      yield await pending.shift()!;
    }
    if (pending.length >= window) yield await pending.shift()!;
  }

  while (pending.length > 0) yield await pending.shift()!;
}

async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const settled = promise.then(
    () => true,
    () => true,
  );
  return (await Promise.race([settled, Promise.resolve(marker)])) !== marker;
}
