/**
 * The verification options every verifying command takes. Each maps to a
 * configuration key, so the flag, the environment and the config file all
 * set the same thing; only flags actually typed override the others.
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';

import { loadConfig } from '../config.js';
import type { Config, ConfigKey } from '../config.js';

interface FlagSpec {
  flags: string;
  key: ConfigKey;
  description: string;
  parse?: (value: string, previous: unknown) => unknown;
}

const FLAGS: readonly FlagSpec[] = [
  {
    flags: '--allow-private-mx',
    key: 'allowPrivateMx',
    description: 'allow mail servers on private, loopback or reserved addresses',
  },
  {
    flags: '--dns-server <host[:port]>',
    key: 'dnsServers',
    description: 'DNS server to ask (repeatable)',
    parse: collect,
  },
  {
    flags: '--smtp-port <n>',
    key: 'smtpPort',
    description: 'port of the mail servers (default 25)',
    parse: integer,
  },
  { flags: '--helo <name>', key: 'heloName', description: 'name sent in EHLO/HELO' },
  { flags: '--from <address>', key: 'mailFrom', description: 'MAIL FROM address' },
  {
    flags: '--greylist-retry <seconds[,seconds...]>',
    key: 'greylistRetry',
    description: 'delays before each retry of a deferred RCPT; 0 disables',
  },
  {
    flags: '--timeout <seconds>',
    key: 'timeout',
    description: 'deadline for one verification pass of one address',
    parse: decimal,
  },
  {
    flags: '--concurrency <n>',
    key: 'concurrency',
    description: 'SMTP sessions open at once, all servers together',
    parse: integer,
  },
  {
    flags: '--per-host-concurrency <n>',
    key: 'perHostConcurrency',
    description: 'SMTP sessions open at once to one mail server',
    parse: integer,
  },
  {
    flags: '--max-rejected-per-session <n>',
    key: 'maxRejectedPerSession',
    description: 'refused RCPTs after which a session ends',
    parse: integer,
  },
  {
    flags: '--domain-rate <per-second>',
    key: 'domainRate',
    description: 'most RCPTs per second to one domain (0: no limit)',
    parse: decimal,
  },
  { flags: '--no-cache', key: 'cache', description: 'neither read nor write the result cache' },
  { flags: '--database <path>', key: 'database', description: 'SQLite file of the result cache' },
  { flags: '--proxy <socks5-url>', key: 'proxy', description: 'SOCKS5 proxy for SMTP connections' },
  { flags: '--no-catch-all', key: 'catchAllProbe', description: 'skip the catch-all probe' },
  { flags: '--no-starttls', key: 'startTls', description: 'never use STARTTLS' },
  { flags: '--log-level <level>', key: 'logLevel', description: 'log level on standard error' },
];

export function addVerificationOptions(command: Command): Command {
  for (const spec of FLAGS) {
    if (spec.parse) command.option(spec.flags, spec.description, spec.parse);
    else command.option(spec.flags, spec.description);
  }
  return command.option('--config <path>', 'JSON config file (also MAILVERIFY_CONFIG)');
}

/** The config overrides the user typed on this command line. */
export function readOverrides(command: Command): Partial<Record<ConfigKey, unknown>> {
  const options = command.opts();
  const overrides: Partial<Record<ConfigKey, unknown>> = {};

  for (const spec of FLAGS) {
    const name = command.options.find((option) => option.flags === spec.flags)?.attributeName();
    if (!name || command.getOptionValueSource(name) !== 'cli') continue;
    overrides[spec.key] = options[name];
  }
  return overrides;
}

function collect(value: string, previous: unknown): string[] {
  return Array.isArray(previous) ? [...(previous as string[]), value] : [value];
}

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function decimal(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new InvalidArgumentError('must be a number');
  }
  return number;
}

/** The configuration of one command: file, environment, then its typed flags. */
export function loadCommandConfig(command: Command, env: NodeJS.ProcessEnv): Config {
  return loadConfig({
    env,
    file: command.opts().config as string | undefined,
    overrides: readOverrides(command),
  });
}
