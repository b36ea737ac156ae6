/**
 * The contact properties we own, in a property group of our own. Nothing
 * outside this group is ever created, changed or written by the connector.
 */
import { REASONS } from '../../src/index.js';
import type { VerificationResult } from '../../src/index.js';

export const PROPERTY_GROUP = { name: 'mailverify', label: 'Email verification' } as const;

export const PROPERTY_NAMES = {
  status: 'mailverify_status',
  reason: 'mailverify_reason',
  score: 'mailverify_score',
  checkedAt: 'mailverify_checked_at',
  verifiedEmail: 'mailverify_verified_email',
} as const;

export const OWNED_PROPERTIES: readonly string[] = Object.values(PROPERTY_NAMES);

/** HubSpot's own contact properties the sync reads (never writes). */
export const EMAIL_PROPERTY = 'email';
/** Set by HubSpot when a marketing email hard-bounced for the contact. */
export const HARD_BOUNCE_PROPERTY = 'hs_email_hard_bounce_reason_enum';

const VERDICTS = ['deliverable', 'undeliverable', 'risky', 'unknown'] as const;

export interface PropertyDefinition {
  name: string;
  label: string;
  description: string;
  type: 'enumeration' | 'number' | 'datetime' | 'string';
  fieldType: 'select' | 'number' | 'date' | 'text';
  options?: { label: string; value: string; displayOrder: number }[];
}

/** https://developers.hubspot.com/docs/api/crm/properties (create a property) */
export const PROPERTY_DEFINITIONS: readonly PropertyDefinition[] = [
  {
    name: PROPERTY_NAMES.status,
    label: 'Email status',
    description: 'Whether the address can receive mail, from a live check of its mail server.',
    type: 'enumeration',
    fieldType: 'select',
    options: optionsOf(VERDICTS),
  },
  {
    name: PROPERTY_NAMES.reason,
    label: 'Email status reason',
    description: 'Why the email status is what it is.',
    type: 'enumeration',
    fieldType: 'select',
    options: optionsOf(REASONS),
  },
  {
    name: PROPERTY_NAMES.score,
    label: 'Email score',
    description: 'How likely a message would be delivered, 0 to 100.',
    type: 'number',
    fieldType: 'number',
  },
  {
    name: PROPERTY_NAMES.checkedAt,
    label: 'Email checked at',
    description: 'When the address was last checked.',
    type: 'datetime',
    fieldType: 'date',
  },
  {
    name: PROPERTY_NAMES.verifiedEmail,
    label: 'Verified email address',
    description: 'The address the status belongs to; a different email means a new check.',
    type: 'string',
    fieldType: 'text',
  },
];

/** The values of our properties for one result, as HubSpot takes them. */
export function propertiesOf(
  email: string,
  result: Pick<VerificationResult, 'verdict' | 'reason' | 'score' | 'checkedAt'>,
): Record<string, string> {
  return {
    [PROPERTY_NAMES.status]: result.verdict,
    [PROPERTY_NAMES.reason]: result.reason,
    [PROPERTY_NAMES.score]: String(result.score),
    // Datetime properties take epoch milliseconds or ISO 8601.
    [PROPERTY_NAMES.checkedAt]: new Date(result.checkedAt).toISOString(),
    [PROPERTY_NAMES.verifiedEmail]: email,
  };
}

function optionsOf(values: readonly string[]) {
  return values.map((value, index) => ({ label: value, value, displayOrder: index }));
}
