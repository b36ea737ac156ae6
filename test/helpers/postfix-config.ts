/**
 * What the private Postfix instance of the end-to-end tests is: its
 * settings, checked before they reach a configuration line, and the files
 * that make it one smtpd on ip:port with a virtual mailbox domain, unknown
 * recipients refused at RCPT time, STARTTLS, and no transport that could
 * carry mail off the machine.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface PostfixOptions {
  /**
   * 127.0.0.1 (the default) or ::1. Postfix binds only addresses that an
   * interface carries, so other 127.0.0.0/8 addresses fail to start.
   */
  listenIp?: string;
  /** Default: a free ephemeral port. */
  port?: number;
  domain: string;
  /** Local parts that exist at `domain`; every other one gets 550 5.1.1. */
  mailboxes: string[];
  /** Default: `mx.<domain>`. */
  hostname?: string;
  /** More main.cf parameters, e.g. `{ smtpd_hard_error_limit: '10' }`. */
  mainCf?: Record<string, string>;
}

export interface PostfixSettings {
  ip: string;
  hostname: string;
  domain: string;
  mailboxes: string[];
  mainCf: Record<string, string>;
}

/** Where one instance keeps everything, under a fresh temporary directory. */
export interface PostfixLayout {
  rootDir: string;
  configDir: string;
  maillogFile: string;
}

/** RFC 5322 dot-atom characters: no space or quote that could break the table line. */
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/;

export function readPostfixSettings(options: PostfixOptions): PostfixSettings {
  const ip = options.listenIp ?? '127.0.0.1';
  if (ip !== '127.0.0.1' && ip !== '::1') {
    throw new Error(`listenIp must be 127.0.0.1 or ::1 (an address lo carries), got ${ip}`);
  }

  const domain = requireHostName(options.domain.toLowerCase());
  const hostname = requireHostName(options.hostname ?? `mx.${domain}`);

  const mailboxes = options.mailboxes.map((local) => local.toLowerCase());
  const badMailbox = mailboxes.find((local) => !LOCAL_PART.test(local));
  if (badMailbox !== undefined) throw new Error(`not a plain local part: ${badMailbox}`);

  const mainCf = options.mainCf ?? {};
  for (const [name, value] of Object.entries(mainCf)) {
    if (!/^[a-z0-9_]+$/.test(name) || /[\r\n]/.test(value)) {
      throw new Error(`not a main.cf parameter line: ${name} = ${value}`);
    }
  }

  return { ip, domain, mailboxes, hostname, mainCf };
}

/** The mailbox table and main.cf; master.cf waits until the port is chosen. */
export async function writePostfixConfiguration(layout: PostfixLayout, settings: PostfixSettings) {
  const { configDir } = layout;
  const mailboxMap = settings.mailboxes.map((local) => `${local}@${settings.domain} OK`);

  await writeFile(path.join(configDir, 'mailboxes'), `${mailboxMap.join('\n')}\n`);
  await writeFile(path.join(configDir, 'main.cf'), renderMainCf(layout, settings));
}

/** The smtpd and the services it calls on; chroot off, so no jail to populate. */
export function renderMasterCf(ip: string, port: number): string {
  const listener = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  return [
    `${listener} inet n - n - - smtpd`,
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'proxymap unix - - n - - proxymap',
    'anvil unix - - n - 1 anvil',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'postlog unix-dgram n - n - 1 postlogd',
    '',
  ].join('\n');
}

/** Both land in main.cf and a certificate subject, so only plain DNS names pass. */
function requireHostName(name: string): string {
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(name)) return name;
  throw new Error(`not a dotted ASCII host name: ${name}`);
}

function renderMainCf(layout: PostfixLayout, settings: PostfixSettings): string {
  const { rootDir, configDir } = layout;
  const isIpv6 = settings.ip.includes(':');
  const entries: [string, string][] = [
    ['compatibility_level', '3.6'],
    ['queue_directory', path.join(rootDir, 'queue')],
    ['data_directory', path.join(rootDir, 'data')],
    ['maillog_file', layout.maillogFile],
    // postlogd refuses a log file outside these prefixes (default /var).
    ['maillog_file_prefixes', rootDir],
    ['syslog_name', 'mailverify-e2e'],
    ['myhostname', settings.hostname],
    ['mydomain', settings.domain],
    ['myorigin', settings.hostname],
    ['inet_interfaces', settings.ip],
    ['inet_protocols', isIpv6 ? 'ipv6' : 'ipv4'],
    ['mynetworks', isIpv6 ? '[::1]/128' : '127.0.0.0/8'],
    // Nothing is local and nothing is relayed: the only domain is virtual.
    ['mydestination', ''],
    ['relay_domains', ''],
    ['relayhost', ''],
    ['alias_maps', ''],
    ['alias_database', ''],
    ['local_recipient_maps', ''],
    ['virtual_mailbox_domains', settings.domain],
    ['virtual_mailbox_maps', `texthash:${path.join(configDir, 'mailboxes')}`],
    // Unknown users get "550 5.1.1 ... User unknown in virtual mailbox table".
    ['smtpd_reject_unlisted_recipient', 'yes'],
    // Like an MX facing the internet: other domains get "554 5.7.1 Relay access denied".
    ['smtpd_relay_restrictions', 'reject_unauth_destination'],
    ['smtpd_recipient_restrictions', 'permit_mynetworks, reject'],
    ['smtpd_peername_lookup', 'no'],
    ['smtp_dns_support_level', 'disabled'],
    ['smtpd_tls_security_level', 'may'],
    ['smtpd_tls_cert_file', path.join(configDir, 'cert.pem')],
    ['smtpd_tls_key_file', path.join(configDir, 'key.pem')],
    // Even a message that got past DATA could not leave the machine.
    ['default_transport', 'error:the test server delivers nothing'],
    ['relay_transport', 'error:the test server delivers nothing'],
    ['virtual_transport', 'discard:the test server keeps no mail'],
    ['biff', 'no'],
    ...Object.entries(settings.mainCf),
  ];

  return entries.map(([name, value]) => `${name} = ${value}`.trimEnd()).join('\n') + '\n';
}
