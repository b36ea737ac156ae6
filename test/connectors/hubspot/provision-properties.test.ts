import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createHubspotClient } from '../../../connectors/hubspot/create-hubspot-client.js';
import { OWNED_PROPERTIES } from '../../../connectors/hubspot/hubspot-properties.js';
import { createPortalRateLimiter } from '../../../connectors/hubspot/portal-rate-limiter.js';
import { provisionProperties } from '../../../connectors/hubspot/provision-properties.js';
import { BASE_URL, FakePortal, fakeClock } from './fake-portal.js';

let portal: FakePortal;

beforeEach(() => {
  nock.disableNetConnect();
  portal = new FakePortal();
});

afterEach(() => {
  portal.close();
  nock.enableNetConnect();
});

function provision(isDryRun = false) {
  const client = createHubspotClient({ accessToken: 'pat-test', baseUrl: BASE_URL });
  const limiter = createPortalRateLimiter({ clock: fakeClock(0) });
  return provisionProperties(client, limiter, isDryRun);
}

describe('provisionProperties', () => {
  it('creates our group and every property we own when none exist', async () => {
    const report = await provision();

    expect(report.isGroupCreated).toBe(true);
    expect(report.created).toEqual([...OWNED_PROPERTIES]);
    expect(portal.groups).toEqual(['mailverify']);
    const created = portal.callsTo('POST', /properties\/contacts\/batch\/create$/)[0]!;
    const inputs = (created.body as { inputs: { name: string; groupName: string }[] }).inputs;
    expect(inputs.every((input) => input.groupName === 'mailverify')).toBe(true);
    const status = inputs.find((input) => input.name === 'mailverify_status') as unknown as {
      options: { value: string }[];
    };
    expect(status.options.map((option) => option.value)).toEqual([
      'deliverable',
      'undeliverable',
      'risky',
      'unknown',
    ]);
  });

  it('changes nothing when run again', async () => {
    await provision();
    const callsBefore = portal.calls.length;

    const report = await provision();

    expect(report).toEqual({ isGroupCreated: false, created: [], existing: [...OWNED_PROPERTIES] });
    expect(portal.calls.slice(callsBefore).map((call) => call.method)).toEqual(['GET', 'GET']);
  });

  it('creates only the missing properties and never sends a change to existing ones', async () => {
    portal.groups.push('mailverify');
    portal.properties.push('mailverify_status', 'mailverify_score');

    const report = await provision();

    expect(report.created).toEqual([
      'mailverify_reason',
      'mailverify_checked_at',
      'mailverify_verified_email',
    ]);
    expect(portal.callsTo('POST', /groups$/)).toHaveLength(0);
    expect(portal.calls.some((call) => call.method === 'PATCH')).toBe(false);
  });

  it('reports without creating anything on a dry run', async () => {
    const report = await provision(true);

    expect(report.created).toHaveLength(5);
    expect(portal.calls.every((call) => call.method === 'GET')).toBe(true);
  });
});
