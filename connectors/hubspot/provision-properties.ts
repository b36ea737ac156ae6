/**
 * `mailverify hubspot setup`: creates our property group and the
 * properties we own, only those that are missing. Running it again changes
 * nothing, and no property outside our group is ever modified.
 * https://developers.hubspot.com/docs/api/crm/properties
 */
import type { Client } from '@hubspot/api-client';

import { PROPERTY_DEFINITIONS, PROPERTY_GROUP } from './hubspot-properties.js';
import type { HttpAnswer, PortalRateLimiter } from './portal-rate-limiter.js';

const OBJECT_TYPE = 'contacts';

export interface ProvisionReport {
  isGroupCreated: boolean;
  created: string[];
  existing: string[];
}

export async function provisionProperties(
  client: Client,
  limiter: PortalRateLimiter,
  isDryRun = false,
): Promise<ProvisionReport> {
  const properties = client.crm.properties;
  const groups = await limiter.call('standard', () =>
    answerOf(properties.groupsApi.getAllWithHttpInfo(OBJECT_TYPE)),
  );
  const hasGroup = groups.results.some((group) => group.name === PROPERTY_GROUP.name);

  if (!hasGroup && !isDryRun) {
    await limiter.call('standard', () =>
      answerOf(
        properties.groupsApi.createWithHttpInfo(OBJECT_TYPE, {
          name: PROPERTY_GROUP.name,
          label: PROPERTY_GROUP.label,
        }),
      ),
    );
  }

  const present = await limiter.call('standard', () =>
    answerOf(properties.coreApi.getAllWithHttpInfo(OBJECT_TYPE)),
  );
  const names = new Set(present.results.map((property) => property.name));
  const missing = PROPERTY_DEFINITIONS.filter((definition) => !names.has(definition.name));

  if (missing.length > 0 && !isDryRun) {
    const inputs = missing.map((definition) => ({ ...definition, groupName: PROPERTY_GROUP.name }));
    await limiter.call('standard', () =>
      answerOf(
        properties.batchApi.createWithHttpInfo(OBJECT_TYPE, {
          inputs: inputs as never,
        }),
      ),
    );
  }

  return {
    isGroupCreated: !hasGroup,
    created: missing.map((definition) => definition.name),
    existing: PROPERTY_DEFINITIONS.filter((definition) => names.has(definition.name)).map(
      (definition) => definition.name,
    ),
  };
}

/** The SDK's HttpInfo, seen as what the limiter reads. */
export async function answerOf<T>(
  pending: Promise<{ httpStatusCode: number; headers: unknown; data: T }>,
): Promise<HttpAnswer<T>> {
  const answer = await pending;
  return {
    httpStatusCode: answer.httpStatusCode,
    headers: answer.headers as Record<string, string>,
    data: answer.data,
  };
}
