import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { CALLBACK_PATH, OAUTH_SCOPES } from '../../../connectors/hubspot/hubspot-oauth.js';
import {
  PROPERTY_DEFINITIONS,
  PROPERTY_NAMES,
} from '../../../connectors/hubspot/hubspot-properties.js';
import { ACTION_PATH, WEBHOOKS_PATH } from '../../../connectors/hubspot/hubspot-router.js';
import {
  ACTION_INPUT_FIELD,
  ACTION_OUTPUT_FIELDS,
} from '../../../connectors/hubspot/workflow-action.js';

interface Field {
  typeDefinition: { name: string; options?: { value: string }[] };
}

interface AppManifest {
  config: { auth: { requiredScopes: string[]; redirectUrls: string[] } };
}

interface WebhooksManifest {
  config: { settings: { targetUrl: string }; subscriptions: { legacyCrmObjects: unknown[] } };
}

interface ActionManifest {
  config: { actionUrl: string; inputFields: Field[]; outputFields: Field[] };
}

function manifest<T>(path: string): T {
  const url = new URL(`../../../manifest/hubspot/${path}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

const app = manifest<AppManifest>('src/app/app-hsmeta.json');
const webhooks = manifest<WebhooksManifest>('src/app/webhooks/webhooks-hsmeta.json');
const action = manifest<ActionManifest>('src/app/workflow-actions/verify-email-hsmeta.json');

function optionsOf(name: string): string[] {
  const definition = PROPERTY_DEFINITIONS.find((property) => property.name === name)!;
  return definition.options!.map((option) => option.value);
}

describe('manifest/hubspot agrees with the code', () => {
  it('asks for exactly the scopes the OAuth install asks for', () => {
    expect([...app.config.auth.requiredScopes].sort()).toEqual([...OAUTH_SCOPES].sort());
  });

  it('redirects to our OAuth callback path', () => {
    const paths = app.config.auth.redirectUrls.map((url) => new URL(url).pathname);
    expect(paths).toEqual([CALLBACK_PATH]);
  });

  it('sends webhooks to our webhook path, for new contacts and email changes only', () => {
    expect(new URL(webhooks.config.settings.targetUrl).pathname).toBe(WEBHOOKS_PATH);
    const subscriptions = webhooks.config.subscriptions.legacyCrmObjects;
    expect(subscriptions).toEqual([
      { subscriptionType: 'contact.creation', active: true },
      { subscriptionType: 'contact.propertyChange', propertyName: 'email', active: true },
    ]);
  });

  it('points the workflow action at our action path with our input and output fields', () => {
    const config = action.config;
    expect(new URL(config.actionUrl).pathname).toBe(ACTION_PATH);
    expect(config.inputFields.map((field: Field) => field.typeDefinition.name)).toEqual([
      ACTION_INPUT_FIELD,
    ]);
    expect(config.outputFields.map((field: Field) => field.typeDefinition.name)).toEqual([
      ...ACTION_OUTPUT_FIELDS,
    ]);
  });

  it('offers the same status and reason values as the properties we own', () => {
    const [status, reason] = action.config.outputFields;
    const values = (field: Field | undefined) =>
      field?.typeDefinition.options?.map((option) => option.value);
    expect(values(status)).toEqual(optionsOf(PROPERTY_NAMES.status));
    expect(values(reason)).toEqual(optionsOf(PROPERTY_NAMES.reason));
  });

  it('has every manifest URL on one host', () => {
    const hosts = new Set(
      [
        ...app.config.auth.redirectUrls,
        webhooks.config.settings.targetUrl,
        action.config.actionUrl,
      ].map((url) => new URL(url).host),
    );
    expect(hosts.size).toBe(1);
  });
});
