import { describe, expect, it } from 'vitest';

import { RoundTripGauge } from '../../src/engine/round-trip-gauge.js';

describe('RoundTripGauge', () => {
  it('gives no round trip until eight exchanges are timed, then the least of them', () => {
    const gauge = new RoundTripGauge();
    for (const ms of [80, 52, 61, 300, 55, 70, 51]) gauge.observe(ms);
    expect(gauge.roundTripMs).toBeNull();

    gauge.observe(90);
    expect(gauge.roundTripMs).toBe(51);
    gauge.observe(0.4);
    expect(gauge.roundTripMs).toBe(0.4);
  });
});
