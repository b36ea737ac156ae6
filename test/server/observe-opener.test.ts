import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { createMetrics } from '../../src/server/metrics.js';
import { observeOpener } from '../../src/server/observe-opener.js';
import type { SocketOpener } from '../../src/verify/types.js';

const target = { host: 'mx.acme.test', ip: '127.0.0.61', port: 25 };

async function count(metrics: ReturnType<typeof createMetrics>, name: string) {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return Object.fromEntries(
    metric.values.map((value) => [value.labels.outcome ?? '', value.value]),
  );
}

function failing(code: string): SocketOpener {
  return async () => {
    throw Object.assign(new Error(`connect failed: ${code}`), { code });
  };
}

describe('observeOpener', () => {
  it('counts a connected session and keeps it in the open gauge until it closes', async () => {
    const metrics = createMetrics({ withProcessMetrics: false });
    const socket = new PassThrough();
    const opener = observeOpener(async () => socket, metrics);

    await opener(target, 1_000);
    expect(await count(metrics, 'mailverify_smtp_sessions_total')).toEqual({ connected: 1 });
    expect(await count(metrics, 'mailverify_smtp_sessions_open')).toEqual({ '': 1 });

    socket.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await count(metrics, 'mailverify_smtp_sessions_open')).toEqual({ '': 0 });
  });

  it('names the outcome of a failed attempt from its errno code, and still rejects', async () => {
    const metrics = createMetrics({ withProcessMetrics: false });
    const codes = ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPROXY'];

    for (const code of codes) {
      await expect(observeOpener(failing(code), metrics)(target, 1_000)).rejects.toThrow(code);
    }
    expect(await count(metrics, 'mailverify_smtp_sessions_total')).toEqual({
      refused: 1,
      timeout: 1,
      unreachable: 1,
      failed: 1,
    });
  });
});
