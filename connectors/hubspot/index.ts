/**
 * The HubSpot connector: property provisioning, contact sync, the per
 * portal rate limiter, webhooks and the workflow action.
 */
export { createHubspotClient, DEFAULT_HUBSPOT_BASE_URL } from './create-hubspot-client.js';
export type { HubspotClientOptions } from './create-hubspot-client.js';
export { createPortalRateLimiter, HubspotStopError } from './portal-rate-limiter.js';
export type { CallKind, PortalRateLimiter, StopReason } from './portal-rate-limiter.js';
export { provisionProperties } from './provision-properties.js';
export type { ProvisionReport } from './provision-properties.js';
export {
  OWNED_PROPERTIES,
  PROPERTY_DEFINITIONS,
  PROPERTY_GROUP,
  PROPERTY_NAMES,
} from './hubspot-properties.js';
export { syncContacts } from './sync-contacts.js';
export type { ContactChange, SyncDeps, SyncOptions, SyncReport } from './sync-contacts.js';
export { createHubspotSyncTask } from './hubspot-sync-task.js';
export type { HubspotSyncTaskDeps, PortalConnection } from './hubspot-sync-task.js';
export { createPortalRegistry, PRIVATE_APP_PORTAL } from './portal-registry.js';
export type { PortalRegistry, PortalRegistryOptions } from './portal-registry.js';
export { completeInstall, currentAccessToken, installUrl, OAUTH_SCOPES } from './hubspot-oauth.js';
export type { OAuthSettings } from './hubspot-oauth.js';
export { checkSignature, signV3, MAX_SIGNATURE_AGE_MS } from './check-signature.js';
export type { SignatureCheck, SignedRequest } from './check-signature.js';
export { createContactQueue } from './contact-queue.js';
export type { ContactQueue, ContactQueueDeps } from './contact-queue.js';
export { createHubspotRouter, WEBHOOKS_PATH, ACTION_PATH } from './hubspot-router.js';
export type { HubspotRouterDeps } from './hubspot-router.js';
export { createWorkflowAction, ACTION_OUTPUT_FIELDS } from './workflow-action.js';
export type { WorkflowAction, WorkflowActionDeps } from './workflow-action.js';
export { sealToken, unsealToken } from './seal-token.js';
