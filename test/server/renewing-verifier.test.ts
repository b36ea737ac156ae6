import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { BulkClosedError } from '../../src/engine/bulk-verifier.js';
import { createRenewingVerifier } from '../../src/server/renewing-verifier.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { createFakeClock } from './fake-clock.js';
import { createFakeVerifier } from './fake-verifier.js';
import type { FakeVerifier } from './fake-verifier.js';

function setUp() {
  const clock = createFakeClock();
  const generations: FakeVerifier[] = [];
  const answered: VerificationResult[] = [];
  const verifier = createRenewingVerifier({
    create: () => {
      const generation = createFakeVerifier();
      generations.push(generation);
      return generation;
    },
    generationMs: 60_000,
    clock,
    logger: pino({ level: 'silent' }),
    onResult: (result) => answered.push(result),
  });
  return { clock, generations, answered, verifier };
}

describe('createRenewingVerifier', () => {
  it('sends addresses to one generation until it is old enough', async () => {
    const { clock, generations, verifier } = setUp();

    await verifier.verify('a@acme.test');
    clock.advance(59_999);
    await verifier.verify('b@acme.test');

    expect(generations).toHaveLength(1);
    expect(generations[0]!.asked).toEqual(['a@acme.test', 'b@acme.test']);
  });

  it('starts a new generation after generationMs and closes the idle old one', async () => {
    const { clock, generations, verifier } = setUp();

    await verifier.verify('a@acme.test');
    clock.advance(60_000);
    await verifier.verify('b@acme.test');

    expect(generations).toHaveLength(2);
    expect(generations[1]!.asked).toEqual(['b@acme.test']);
    expect(generations[0]!.isClosed).toBe(true);
  });

  it('lets the old generation finish its addresses before closing it', async () => {
    const { clock, generations, verifier } = setUp();
    generations[0]!.hold('slow@acme.test');
    const slow = verifier.verify('slow@acme.test');

    clock.advance(60_000);
    await verifier.verify('new@acme.test');
    expect(generations[0]!.isClosed).toBe(false);

    generations[0]!.release('slow@acme.test');
    expect((await slow).email).toBe('slow@acme.test');
    expect(generations[0]!.isClosed).toBe(true);
    expect(generations[1]!.isClosed).toBe(false);
  });

  it('answers an address still on its way in the old generation from there', async () => {
    const { clock, generations, answered, verifier } = setUp();
    generations[0]!.hold('slow@acme.test');
    const first = verifier.verify('slow@acme.test');

    clock.advance(60_000);
    const again = verifier.verify('slow@ACME.test');
    await verifier.verify('new@acme.test');
    generations[0]!.release('slow@acme.test');

    expect((await first).email).toBe('slow@acme.test');
    expect((await again).email).toBe('slow@ACME.test');
    expect(generations[0]!.asked).toEqual(['slow@acme.test']);
    expect(generations[1]!.asked).toEqual(['new@acme.test']);
    expect(answered).toHaveLength(3);
    expect(generations[0]!.isClosed).toBe(true);
  });

  it('reports every answer and sums the statistics of all generations', async () => {
    const { clock, answered, verifier } = setUp();

    await verifier.verify('a@acme.test');
    clock.advance(60_000);
    await verifier.verify('b@acme.test');
    await verifier.verify('c@acme.test');

    expect(answered.map((result) => result.email)).toEqual([
      'a@acme.test',
      'b@acme.test',
      'c@acme.test',
    ]);
    expect(verifier.stats().addresses).toBe(3);
  });

  it('rejects with BulkClosedError once closed, and closes every generation', async () => {
    const { generations, verifier } = setUp();
    await verifier.verify('a@acme.test');

    await verifier.close();
    await expect(verifier.verify('b@acme.test')).rejects.toBeInstanceOf(BulkClosedError);
    expect(generations.every((generation) => generation.isClosed)).toBe(true);
  });
});
