/**
 * The one place that reads configuration: defaults, then a JSON config file,
 * then the environment, then command-line overrides. Every problem is listed
 * at once; the result is frozen. The README's option table mirrors OPTIONS
 * (a test keeps them in step).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';

import { parseDnsServer } from './verify/create-resolver.js';
import { parseProxyUrl } from './verify/open-socket.js';

const seconds = z.coerce.number().finite().nonnegative();
const flag = z.preprocess(parseBooleanText, z.boolean());

const schema = z.object({
  heloName: z
    .string()
    .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'must be a host name'),
  mailFrom: z
    .string()
    .regex(/^[^\s<>@"]{1,64}@[A-Za-z0-9.-]{1,253}$/, 'must be a plain address like a@b.example'),
  smtpPort: z.coerce.number().int().min(1).max(65535),
  dnsServers: z.preprocess(splitList, z.array(z.string().transform(checkWith(parseDnsServer)))),
  allowPrivateMx: flag,
  greylistRetry: z.preprocess(
    splitList,
    z.array(seconds).transform((delays) => delays.filter((delay) => delay > 0)),
  ),
  timeout: z.coerce.number().positive().max(600),
  concurrency: z.coerce.number().int().min(1).max(256),
  perHostConcurrency: z.coerce.number().int().min(1).max(64),
  maxRejectedPerSession: z.coerce.number().int().min(1).max(100),
  domainRate: z.coerce.number().finite().nonnegative(),
  cache: flag,
  database: z.string().min(1),
  proxy: z.preprocess(emptyToUndefined, z.string().transform(checkWith(checkProxyUrl)).optional()),
  catchAllProbe: flag,
  startTls: flag,
  ttlDeliverable: seconds,
  ttlUndeliverable: seconds,
  ttlRisky: seconds,
  ttlUnknown: seconds,
  ttlCatchAll: seconds,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  requireApiKey: flag,
  apiTimeout: z.coerce.number().positive().max(600),
  apiTimeoutMax: z.coerce.number().positive().max(600),
  apiRateLimit: z.coerce.number().positive(),
  apiDailyQuota: z.coerce.number().int().nonnegative(),
  maxBodyBytes: z.coerce.number().int().min(1024),
  callbackSecret: z.string(),
  jobLease: z.coerce.number().positive().max(3600),
  jobRetention: z.coerce.number().finite().nonnegative(),
  shutdownGrace: seconds,
  timezone: z.string().min(1),
  schedules: z.preprocess(parseJsonText, z.array(scheduleSchema())),
  googleServiceAccountFile: z.string(),
  googleServiceAccountJson: z.string(),
  googleClientId: z.string(),
  googleClientSecret: z.string(),
  googleRefreshToken: z.string(),
  googleAccessToken: z.string(),
  googleSheetsRootUrl: z.url({ protocol: /^https?$/ }),
  hubspotAccessToken: z.string(),
  hubspotBaseUrl: z.url({ protocol: /^https?$/ }),
  hubspotClientId: z.string(),
  hubspotClientSecret: z.string(),
  hubspotTokenKey: z.string().regex(/^([0-9a-fA-F]{64})?$/, 'must be 64 hex digits (32 bytes)'),
  hubspotPublicUrl: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
  hubspotTrustHardBounces: flag,
});

/** One scheduled task: a name, a cron expression and what to run. */
function scheduleSchema() {
  return z.object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -'),
    cron: z.string().min(1),
    task: z.string().min(1),
    timezone: z.string().min(1).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  });
}

export type Config = Readonly<z.infer<typeof schema>>;
export type ConfigKey = keyof z.infer<typeof schema>;

export interface OptionSpec {
  key: ConfigKey;
  env: string;
  flag: string | null;
  default: string;
  description: string;
}

const DAY = 86_400;

/** Every option, its default, environment name and command-line flag. */
export const OPTIONS: readonly OptionSpec[] = [
  option(
    'heloName',
    '--helo',
    defaultHeloName(),
    "Name sent in EHLO/HELO; should be this host's FQDN with matching reverse DNS.",
  ),
  option(
    'mailFrom',
    '--from',
    `verify@${defaultHeloName()}`,
    'MAIL FROM address; its domain should be yours and its SPF should allow this host.',
  ),
  option('smtpPort', '--smtp-port', '25', "Port of the recipients' mail servers."),
  option(
    'dnsServers',
    '--dns-server',
    '',
    'DNS servers (HOST[:PORT], comma-separated); empty uses the system resolver.',
  ),
  option(
    'allowPrivateMx',
    '--allow-private-mx',
    'false',
    'Allow mail servers on loopback, private, link-local or reserved addresses.',
  ),
  option(
    'greylistRetry',
    '--greylist-retry',
    '60,240',
    'Seconds to wait before each retry of a deferred (4xx) RCPT; 0 disables retries.',
  ),
  option(
    'timeout',
    '--timeout',
    '30',
    'Deadline in seconds for one verification pass of one address (DNS and SMTP).',
  ),
  option(
    'concurrency',
    '--concurrency',
    '20',
    'SMTP sessions open at the same time, all mail servers together.',
  ),
  option(
    'perHostConcurrency',
    '--per-host-concurrency',
    '5',
    'SMTP sessions open at the same time to one mail server.',
  ),
  option(
    'maxRejectedPerSession',
    '--max-rejected-per-session',
    '9',
    'Refused RCPTs after which a session ends (Postfix slows down at 10 errors).',
  ),
  option(
    'domainRate',
    '--domain-rate',
    '0',
    'Most RCPTs per second to one domain; 0 means no limit.',
  ),
  option('cache', '--no-cache', 'true', 'Answer fresh results from the cache and store new ones.'),
  option('database', '--database', './data/mailverify.db', 'SQLite file holding the result cache.'),
  option(
    'proxy',
    '--proxy',
    '',
    'SOCKS5 proxy for SMTP connections (socks5://[user:pass@]host:port).',
  ),
  option(
    'catchAllProbe',
    '--no-catch-all',
    'true',
    'Probe a random address at each domain to detect catch-all servers.',
  ),
  option('startTls', '--no-starttls', 'true', 'Use STARTTLS whenever a server offers it.'),
  option('ttlDeliverable', null, String(30 * DAY), 'Seconds a deliverable result stays fresh.'),
  option('ttlUndeliverable', null, String(7 * DAY), 'Seconds an undeliverable result stays fresh.'),
  option('ttlRisky', null, String(7 * DAY), 'Seconds a risky result stays fresh.'),
  option('ttlUnknown', null, '3600', 'Seconds an unknown result stays fresh.'),
  option('ttlCatchAll', null, String(7 * DAY), "Seconds a domain's catch-all answer stays fresh."),
  option(
    'logLevel',
    '--log-level',
    'warn',
    'fatal, error, warn, info, debug (SMTP transcripts), trace or silent.',
  ),
  option('host', '--host', '127.0.0.1', 'Address `serve` listens on; 0.0.0.0 for every interface.'),
  option('port', '--port', '8080', 'Port `serve` listens on.'),
  option(
    'requireApiKey',
    null,
    'true',
    'Require an API key (Authorization: Bearer) on /v1; false only on a trusted network.',
  ),
  option(
    'apiTimeout',
    null,
    '5',
    'Seconds a /v1/verify call waits before answering 202 with a job.',
  ),
  option('apiTimeoutMax', null, '30', 'Longest wait a caller may ask for with ?timeout=.'),
  option('apiRateLimit', null, '20', 'Requests per second per API key (bursts of twice that).'),
  option('apiDailyQuota', null, '100000', 'Addresses per API key per day (UTC); 0 means no quota.'),
  option('maxBodyBytes', null, '67108864', 'Largest request body, in bytes.'),
  option(
    'callbackSecret',
    null,
    '',
    'HMAC-SHA256 key that signs job callbacks; callbacks need it set.',
  ),
  option('jobLease', null, '60', 'Seconds a worker holds a job before another may resume it.'),
  option(
    'jobRetention',
    null,
    '30',
    'Days an ended job and its results stay readable, then are deleted; 0 keeps them.',
  ),
  option('shutdownGrace', null, '30', 'Seconds running work gets to finish on SIGTERM.'),
  option('timezone', null, 'UTC', 'Time zone of scheduled tasks (IANA name).'),
  option(
    'schedules',
    null,
    '[]',
    'Scheduled tasks as JSON: [{"name","cron","task","timezone","options"}].',
  ),
  option(
    'googleServiceAccountFile',
    null,
    '',
    'Google service account JSON key file for the Sheets connector.',
  ),
  option('googleServiceAccountJson', null, '', 'The same key as JSON text (wins over the file).'),
  option('googleClientId', null, '', 'OAuth client id, for a Google refresh token.'),
  option('googleClientSecret', null, '', 'OAuth client secret, for a Google refresh token.'),
  option('googleRefreshToken', null, '', 'OAuth refresh token with the spreadsheets scope.'),
  {
    ...option('googleAccessToken', null, '', 'A ready Google access token (not refreshed).'),
    env: 'GOOGLE_ACCESS_TOKEN',
  },
  {
    ...option(
      'googleSheetsRootUrl',
      null,
      'https://sheets.googleapis.com/',
      'Root URL of the Sheets API (a proxy or a stand-in).',
    ),
    env: 'GOOGLE_SHEETS_ROOT_URL',
  },
  {
    ...option('hubspotAccessToken', null, '', 'HubSpot private-app access token (one portal).'),
    env: 'HUBSPOT_ACCESS_TOKEN',
  },
  {
    ...option(
      'hubspotBaseUrl',
      null,
      'https://api.hubapi.com',
      'Base URL of the HubSpot API (a proxy or a stand-in).',
    ),
    env: 'HUBSPOT_BASE_URL',
  },
  option('hubspotClientId', null, '', 'HubSpot public app client id, for OAuth installs.'),
  option(
    'hubspotClientSecret',
    null,
    '',
    'HubSpot app client secret: signs webhooks and workflow actions, and OAuth.',
  ),
  option(
    'hubspotTokenKey',
    null,
    '',
    'AES-256-GCM key (64 hex digits) that encrypts stored HubSpot refresh tokens.',
  ),
  option(
    'hubspotPublicUrl',
    null,
    '',
    'Public base URL HubSpot calls (webhook signatures and the OAuth redirect).',
  ),
  option(
    'hubspotTrustHardBounces',
    null,
    'true',
    'Record contacts HubSpot marks as hard-bounced as undeliverable without SMTP.',
  ),
];

/** Thrown when configuration is unusable; lists every problem. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';

  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Path to a JSON file of options keyed like Config; MAILVERIFY_CONFIG otherwise. */
  file?: string;
  /** Values from the command line; they win over everything else. */
  overrides?: Partial<Record<ConfigKey, unknown>>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const problems: string[] = [];

  const raw: Record<string, unknown> = {};
  for (const spec of OPTIONS) raw[spec.key] = spec.default;

  const filePath = sources.file ?? env.MAILVERIFY_CONFIG;
  if (filePath) Object.assign(raw, readConfigFile(filePath, problems));

  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== '') raw[spec.key] = value;
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) raw[key] = value;
  }

  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${describeKey(String(issue.path[0] ?? ''))}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  return Object.freeze(parsed.data);
}

/** Seconds each verdict stays fresh, in the shape the store wants. */
export function lifetimesOf(config: Config) {
  return {
    deliverable: config.ttlDeliverable,
    undeliverable: config.ttlUndeliverable,
    risky: config.ttlRisky,
    unknown: config.ttlUnknown,
  };
}

function readConfigFile(path: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`config file ${path}: ${(error as Error).message}`);
    return {};
  }

  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    problems.push(`config file ${path}: not valid JSON (${(error as Error).message})`);
    return {};
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    problems.push(`config file ${path}: must hold a JSON object`);
    return {};
  }

  const known = new Set<string>(OPTIONS.map((spec) => spec.key));
  const entries = Object.entries(data).filter(([key]) => {
    if (!known.has(key)) problems.push(`config file ${path}: unknown option "${key}"`);
    return known.has(key);
  });
  return Object.fromEntries(entries);
}

function option(
  key: ConfigKey,
  cliFlag: string | null,
  fallback: string,
  description: string,
): OptionSpec {
  const env = `MAILVERIFY_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
  return { key, env, flag: cliFlag, default: fallback, description };
}

function describeKey(key: string): string {
  const spec = OPTIONS.find((candidate) => candidate.key === key);
  if (!spec) return key;
  return spec.flag ? `${spec.flag} (${spec.env})` : spec.env;
}

function defaultHeloName(): string {
  return hostname().toLowerCase() || 'localhost';
}

function parseBooleanText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  return value;
}

function splitList(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function checkProxyUrl(url: string): string {
  parseProxyUrl(url);
  return url;
}

function parseJsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function emptyToUndefined(value: unknown): unknown {
  return value === '' || value === null ? undefined : value;
}

function checkWith(parse: (value: string) => string) {
  return (value: string, context: z.RefinementCtx): string => {
    try {
      return parse(value);
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  };
}
