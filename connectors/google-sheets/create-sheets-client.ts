/**
 * The Sheets client and its credentials. Three ways to connect: a service
 * account key (the spreadsheet shared with its address), an OAuth refresh
 * token with its client, or an access token obtained elsewhere (it is not
 * refreshed: for short runs and scripts). The client's own retry is off;
 * call-google.ts retries, POSTs included.
 */
import { auth, sheets } from '@googleapis/sheets';
import type { sheets_v4 } from '@googleapis/sheets';
import { z } from 'zod';

/** Read and write cells and developer metadata; nothing in Drive. */
export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';
export const DEFAULT_ROOT_URL = 'https://sheets.googleapis.com/';

export type GoogleCredentials =
  | { kind: 'access-token'; accessToken: string }
  | { kind: 'service-account'; clientEmail: string; privateKey: string }
  | { kind: 'refresh-token'; clientId: string; clientSecret: string; refreshToken: string };

export interface GoogleAuthSettings {
  accessToken: string;
  /** The JSON key of a service account, as Google Cloud downloads it. */
  serviceAccountJson: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

const serviceAccountKey = z.object({
  client_email: z.string().min(1),
  private_key: z.string().min(1),
});

/** The credentials the settings describe, or what is wrong with them. */
export function chooseCredentials(
  settings: GoogleAuthSettings,
): { ok: true; credentials: GoogleCredentials } | { ok: false; problem: string } {
  if (settings.serviceAccountJson !== '') {
    let data: unknown;
    try {
      data = JSON.parse(settings.serviceAccountJson);
    } catch {
      return { ok: false, problem: 'the service account key is not valid JSON' };
    }
    const key = serviceAccountKey.safeParse(data);
    if (!key.success) {
      return { ok: false, problem: 'the service account key lacks client_email or private_key' };
    }
    const { client_email: clientEmail, private_key: privateKey } = key.data;
    return { ok: true, credentials: { kind: 'service-account', clientEmail, privateKey } };
  }
  if (settings.refreshToken !== '') {
    if (settings.clientId === '' || settings.clientSecret === '') {
      return { ok: false, problem: 'a refresh token needs its OAuth client id and secret' };
    }
    const { clientId, clientSecret, refreshToken } = settings;
    return {
      ok: true,
      credentials: { kind: 'refresh-token', clientId, clientSecret, refreshToken },
    };
  }
  if (settings.accessToken !== '') {
    return { ok: true, credentials: { kind: 'access-token', accessToken: settings.accessToken } };
  }
  return {
    ok: false,
    problem:
      'no Google credentials: set a service account key, a refresh token or GOOGLE_ACCESS_TOKEN',
  };
}

export function createSheetsClient(
  credentials: GoogleCredentials,
  rootUrl = DEFAULT_ROOT_URL,
): sheets_v4.Sheets {
  const root = rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/`;
  return sheets({ version: 'v4', auth: authClientOf(credentials), rootUrl: root, retry: false });
}

function authClientOf(credentials: GoogleCredentials) {
  switch (credentials.kind) {
    case 'service-account':
      return new auth.JWT({
        email: credentials.clientEmail,
        key: credentials.privateKey,
        scopes: [SHEETS_SCOPE],
      });
    case 'refresh-token': {
      const client = new auth.OAuth2({
        clientId: credentials.clientId,
        clientSecret: credentials.clientSecret,
      });
      client.setCredentials({ refresh_token: credentials.refreshToken });
      return client;
    }
    case 'access-token': {
      const client = new auth.OAuth2();
      client.setCredentials({ access_token: credentials.accessToken });
      return client;
    }
  }
}
