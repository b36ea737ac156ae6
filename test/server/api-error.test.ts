import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { API_ERRORS, ApiError } from '../../src/server/api-error.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the API error catalogue', () => {
  it('is documented in the README, code by code, with its status and meaning', () => {
    for (const [code, { status, message }] of Object.entries(API_ERRORS)) {
      const escaped = message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const row = new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|\\s*${escaped}\\s*\\|`);
      expect(readme, code).toMatch(row);
    }
  });

  it('answers in the one error shape, with the status of its code', () => {
    const error = new ApiError('quota_exceeded', undefined, { quota: 10 }, 3600);
    expect(error.status).toBe(429);
    expect(error.retryAfter).toBe(3600);
    expect(error.toBody()).toEqual({
      error: {
        code: 'quota_exceeded',
        message: 'the daily quota of this API key is used up',
        details: { quota: 10 },
      },
    });
  });
});
