import { describe, expect, it } from 'vitest';

import { checkSignature, signV3 } from '../../../connectors/hubspot/check-signature.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
/** The request body of HubSpot's documented v1 and v2 examples. */
const DOC_BODY =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,' +
  '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",' +
  '"changeFlag":"NEW","appId":54321}]';
const NOW = 1_700_000_000_000;

function request(
  headers: Record<string, string>,
  body = DOC_BODY,
  uri = 'https://www.example.com/webhook_uri',
) {
  return { method: 'POST', uri, rawBody: Buffer.from(body), headers };
}

describe('checkSignature', () => {
  it("accepts HubSpot's documented v1 example", () => {
    const signed = request({
      'x-hubspot-signature': '232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de',
      'x-hubspot-signature-version': 'v1',
    });
    expect(checkSignature(signed, SECRET, NOW)).toBe('valid');
  });

  it("accepts HubSpot's documented v2 GET example", () => {
    const signed = {
      method: 'GET',
      uri: 'https://www.example.com/webhook_uri',
      rawBody: Buffer.alloc(0),
      headers: {
        'x-hubspot-signature': 'eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e',
        'x-hubspot-signature-version': 'v2',
      },
    };
    expect(checkSignature(signed, SECRET, NOW)).toBe('valid');
  });

  it('accepts a v3 signature made over method, URI, body and timestamp', () => {
    const timestamp = String(NOW - 1000);
    const uri = 'https://verify.example.com/hubspot/webhooks';
    const signature = signV3('POST', uri, Buffer.from(DOC_BODY), timestamp, SECRET);
    const signed = request(
      { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp },
      DOC_BODY,
      uri,
    );
    expect(checkSignature(signed, SECRET, NOW)).toBe('valid');
  });

  it('compares the URI with the characters of HubSpot’s table decoded', () => {
    const timestamp = String(NOW);
    const plain = "https://verify.example.com/hook?a=b:c@d!e$f'g(h)i*j,k;l";
    const encoded = 'https://verify.example.com/hook?a=b%3Ac%40d%21e%24f%27g%28h%29i%2Aj%2Ck%3Bl';
    const signature = signV3('POST', plain, Buffer.from('[]'), timestamp, SECRET);
    const signed = {
      method: 'POST',
      uri: encoded,
      rawBody: Buffer.from('[]'),
      headers: { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp },
    };
    expect(checkSignature(signed, SECRET, NOW)).toBe('valid');
  });

  it('refuses a forged body, a wrong secret and a truncated signature', () => {
    const timestamp = String(NOW);
    const uri = 'https://verify.example.com/hubspot/webhooks';
    const signature = signV3('POST', uri, Buffer.from(DOC_BODY), timestamp, SECRET);
    const headers = {
      'x-hubspot-signature-v3': signature,
      'x-hubspot-request-timestamp': timestamp,
    };

    expect(checkSignature(request(headers, DOC_BODY.replace('123', '124'), uri), SECRET, NOW)).toBe(
      'mismatch',
    );
    expect(checkSignature(request(headers, DOC_BODY, uri), 'another-secret', NOW)).toBe('mismatch');
    const truncated = { ...headers, 'x-hubspot-signature-v3': signature.slice(0, 20) };
    expect(checkSignature(request(truncated, DOC_BODY, uri), SECRET, NOW)).toBe('mismatch');
  });

  it('refuses a v3 request older than five minutes, even correctly signed', () => {
    const timestamp = String(NOW - 5 * 60_000 - 1);
    const uri = 'https://verify.example.com/hubspot/webhooks';
    const signature = signV3('POST', uri, Buffer.from(DOC_BODY), timestamp, SECRET);
    const signed = request(
      { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp },
      DOC_BODY,
      uri,
    );
    expect(checkSignature(signed, SECRET, NOW)).toBe('stale');
  });

  it('refuses a request with no signature at all', () => {
    expect(checkSignature(request({}), SECRET, NOW)).toBe('missing');
  });
});
