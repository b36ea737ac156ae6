/**
 * The Google Sheets connection from the configuration: credentials (a
 * service account key as JSON text or file, a refresh token, or a ready
 * access token), the API root, and the caller that keeps to the quota and
 * retries. Shared by `mailverify sheets sync` and the `sheets-sync` task.
 */
import { readFileSync } from 'node:fs';
import type { sheets_v4 } from '@googleapis/sheets';
import type { Logger } from 'pino';

import {
  chooseCredentials,
  createGoogleCaller,
  createRequestLimiter,
  createSheetsClient,
  REQUESTS_PER_MINUTE,
} from '../../connectors/google-sheets/index.js';
import type { GoogleCall } from '../../connectors/google-sheets/index.js';
import type { Config } from '../config.js';

export interface SheetsConnection {
  sheets: sheets_v4.Sheets;
  call: GoogleCall;
}

export type ConnectSheets = (
  config: Config,
  logger: Logger,
) => { ok: true; connection: SheetsConnection } | { ok: false; problem: string };

export const connectSheets: ConnectSheets = (config, logger) => {
  let serviceAccountJson = config.googleServiceAccountJson;
  if (serviceAccountJson === '' && config.googleServiceAccountFile !== '') {
    try {
      serviceAccountJson = readFileSync(config.googleServiceAccountFile, 'utf8');
    } catch (error) {
      const reason = (error as Error).message;
      return { ok: false, problem: `cannot read the service account key: ${reason}` };
    }
  }

  const chosen = chooseCredentials({
    accessToken: config.googleAccessToken,
    serviceAccountJson,
    clientId: config.googleClientId,
    clientSecret: config.googleClientSecret,
    refreshToken: config.googleRefreshToken,
  });
  if (!chosen.ok) return chosen;

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const limiter = createRequestLimiter(REQUESTS_PER_MINUTE, { now: Date.now, sleep });
  const call = createGoogleCaller({ limiter, sleep, random: Math.random, logger });
  const sheets = createSheetsClient(chosen.credentials, config.googleSheetsRootUrl);
  return { ok: true, connection: { sheets, call } };
};
