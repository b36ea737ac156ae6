/**
 * `mailverify doctor`: the sender checks driven with an in-memory DNS zone
 * and the real TCP opener against loopback servers, and the command itself
 * run in-process against a loopback DNS server.
 */
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { diagnoseSender } from '../../src/cli/diagnose-sender.js';
import type { CheckReport, DiagnoseRequest } from '../../src/cli/diagnose-sender.js';
import { run } from '../../src/cli/main.js';
import { classifyAddress } from '../../src/verify/mail-server-guard.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import type { IdentityResolver } from '../../src/verify/types.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer, Zone } from '../helpers/dns-server.js';
import { findClosedPort, startRawServer } from '../helpers/smtp-servers.js';
import type { RawServer } from '../helpers/smtp-servers.js';

const HELO_NAME = 'mta.acme-mail.net';
const SENDER_DOMAIN = 'acme-mail.net';
const MAIL_FROM = `bounce@${SENDER_DOMAIN}`;
const BANNER = '220 mx.acme-mail.net ESMTP ready';

/**
 * classifyAddress calls the documentation ranges (192.0.2.0/24,
 * 203.0.113.0/24) reserved, so the egress address must be a public one.
 * It is only data in the DNS zones here: nothing connects to it.
 */
const PUBLIC_IP = '8.8.8.8';
const OTHER_PUBLIC_IP = '8.8.4.4';

type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ESERVFAIL' | 'ETIMEOUT';

interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  MX?: { exchange: string; priority: number }[];
  TXT?: string[];
  /** Every question about this name fails with this code. */
  error?: DnsErrorCode;
}

/** Reverse names by address, or the code the PTR lookup fails with. */
type ReverseZone = Record<string, string[] | DnsErrorCode>;

interface RecordingResolver extends IdentityResolver {
  /** Every question asked, as "TYPE name". */
  queries: string[];
}

/**
 * Fails the way Node's resolver does: ENOTFOUND for a name that does not
 * exist, ENODATA for a name without records of the asked type.
 */
function createIdentityResolver(
  zone: Record<string, ZoneEntry>,
  reverseZone: ReverseZone = {},
): RecordingResolver {
  const queries: string[] = [];

  const lookup = async <T>(
    type: string,
    name: string,
    select: (entry: ZoneEntry) => T[] | undefined,
  ): Promise<T[]> => {
    queries.push(`${type} ${name}`);
    const entry = zone[name.toLowerCase()];
    if (!entry) throw dnsError(type, 'ENOTFOUND', name);
    if (entry.error) throw dnsError(type, entry.error, name);

    const records = select(entry) ?? [];
    if (records.length === 0) throw dnsError(type, 'ENODATA', name);
    return records;
  };

  return {
    queries,
    resolve4: (name) => lookup('A', name, (entry) => entry.A),
    resolve6: (name) => lookup('AAAA', name, (entry) => entry.AAAA),
    resolveMx: (name) => lookup('MX', name, (entry) => entry.MX),
    resolveTxt: (name) => lookup('TXT', name, (entry) => entry.TXT?.map((text) => [text])),
    reverse: async (ip) => {
      queries.push(`PTR ${ip}`);
      const names = reverseZone[ip];
      if (names === undefined) throw dnsError('getHostByAddr', 'ENOTFOUND', ip);
      if (typeof names === 'string') throw dnsError('getHostByAddr', names, ip);
      return names;
    },
  };
}

function dnsError(syscall: string, code: DnsErrorCode, hostname: string): Error {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), { code, syscall, hostname });
}

const servers: { close(): Promise<void> }[] = [];

afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function startBannerServer(): Promise<RawServer> {
  const server = await startRawServer(async (connection) => {
    await connection.write(`${BANNER}\r\n`);
  });
  servers.push(server);
  return server;
}

async function startSilentServer(): Promise<RawServer> {
  const server = await startRawServer(() => {});
  servers.push(server);
  return server;
}

function request(overrides: Partial<DiagnoseRequest> = {}): DiagnoseRequest {
  return {
    heloName: HELO_NAME,
    mailFrom: MAIL_FROM,
    smtpPort: 25,
    timeoutMs: 2_000,
    isProxied: false,
    ...overrides,
  };
}

async function diagnose(
  overrides: Partial<DiagnoseRequest>,
  resolver: IdentityResolver = createIdentityResolver({}),
): Promise<Record<string, CheckReport>> {
  const reports = await diagnoseSender(request(overrides), {
    resolver,
    opener: createTcpOpener(),
  });

  expect(reports.map((report) => report.name)).toEqual([
    'helo name',
    'mail from',
    'outbound smtp',
    'egress ip',
    'reverse dns',
    'spf',
  ]);
  return Object.fromEntries(reports.map((report) => [report.name, report]));
}

/** The egress IP names the HELO host, which resolves back to it, and SPF lists it. */
function soundIdentity(
  overrides: { zone?: Record<string, ZoneEntry>; reverseZone?: ReverseZone } = {},
) {
  return createIdentityResolver(
    {
      [HELO_NAME]: { A: [PUBLIC_IP] },
      [SENDER_DOMAIN]: { TXT: [`v=spf1 ip4:${PUBLIC_IP} -all`] },
      ...overrides.zone,
    },
    { [PUBLIC_IP]: [HELO_NAME], ...overrides.reverseZone },
  );
}

describe('diagnoseSender: sender identity', () => {
  it('uses egress addresses that classifyAddress calls public', () => {
    expect(classifyAddress(PUBLIC_IP)).toBe('public');
    expect(classifyAddress(OTHER_PUBLIC_IP)).toBe('public');
  });

  it('accepts a fully qualified HELO name and a MAIL FROM at a domain of our own', async () => {
    const reports = await diagnose({});

    expect(reports['helo name']).toEqual({ name: 'helo name', status: 'ok', detail: HELO_NAME });
    expect(reports['mail from']).toEqual({ name: 'mail from', status: 'ok', detail: MAIL_FROM });
  });

  it.each(['localhost', 'mta'])(
    'fails the HELO name %j, which is not fully qualified',
    async (helo) => {
      const reports = await diagnose({ heloName: helo });

      expect(reports['helo name']?.status).toBe('fail');
      expect(reports['helo name']?.detail).toBe(`"${helo}" is not a fully qualified name`);
    },
  );

  it('fails a HELO name in a reserved domain', async () => {
    const reports = await diagnose({ heloName: 'mta.example.com' });

    expect(reports['helo name']).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('reserved'),
    });
  });

  it('fails a MAIL FROM at gmail.com, whose SPF will never list this host', async () => {
    const reports = await diagnose({ mailFrom: 'someone@gmail.com' });

    expect(reports['mail from']).toEqual({
      name: 'mail from',
      status: 'fail',
      detail: 'gmail.com belongs to a mail provider; its SPF will not list this host',
    });
  });

  it.each(['probe@example.com', 'probe@EXAMPLE.org', 'probe@verifier.test'])(
    'fails the MAIL FROM %j, at a domain nobody controls',
    async (mailFrom) => {
      const reports = await diagnose({ mailFrom });

      expect(reports['mail from']?.status).toBe('fail');
      expect(reports['mail from']?.detail).toMatch(/is a reserved domain nobody controls$/);
    },
  );
});

describe('diagnoseSender: outbound SMTP', () => {
  it('reports the banner of a reachable mail server as ok', async () => {
    const server = await startBannerServer();

    const reports = await diagnose({ host: `127.0.0.1:${server.target.port}` });

    expect(reports['outbound smtp']).toEqual({
      name: 'outbound smtp',
      status: 'ok',
      detail: `127.0.0.1 [127.0.0.1]:${server.target.port} said "${BANNER}"`,
    });
  });

  it('connects to the first MX of --domain on the SMTP port', async () => {
    const server = await startBannerServer();
    const resolver = createIdentityResolver({
      'acme-mail.net': { MX: [{ exchange: 'mx.acme-mail.net', priority: 10 }] },
      'mx.acme-mail.net': { A: ['127.0.0.1'] },
    });

    const reports = await diagnose(
      { domain: 'acme-mail.net', smtpPort: server.target.port },
      resolver,
    );

    expect(reports['outbound smtp']?.status).toBe('ok');
    expect(reports['outbound smtp']?.detail).toContain('mx.acme-mail.net [127.0.0.1]');
  });

  it('fails with the blocked-port hint when the connection is refused', async () => {
    const port = await findClosedPort();

    const reports = await diagnose({ host: `127.0.0.1:${port}` });

    expect(reports['outbound smtp']?.status).toBe('fail');
    expect(reports['outbound smtp']?.detail).toContain('ECONNREFUSED');
    expect(reports['outbound smtp']?.detail).toMatch(
      new RegExp(`\\(is outbound port ${port} blocked\\?\\)$`),
    );
  });

  it('fails a server that never greets within timeoutMs, and hangs up on it', async () => {
    const server = await startSilentServer();
    const startedAt = Date.now();

    const reports = await diagnose({ host: `127.0.0.1:${server.target.port}`, timeoutMs: 200 });

    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(reports['outbound smtp']?.status).toBe('fail');
    expect(reports['outbound smtp']?.detail).toContain('no banner in time');
    expect(await isClosedWithin(server.connections[0]?.closed, 1_000)).toBe(true);
  });

  it('skips the connection when neither --host nor --domain is given', async () => {
    const reports = await diagnose({});

    expect(reports['outbound smtp']).toEqual({
      name: 'outbound smtp',
      status: 'skip',
      detail: 'give --host or --domain to test a connection',
    });
  });

  it('skips a --host whose port is not a port, without connecting', async () => {
    const reports = await diagnose({ host: '127.0.0.1:70000' });

    expect(reports['outbound smtp']).toMatchObject({
      status: 'skip',
      detail: expect.stringContaining('is not a port'),
    });
  });
});

describe('diagnoseSender: egress address', () => {
  it('warns about a loopback egress address and skips reverse DNS and SPF', async () => {
    const server = await startBannerServer();
    const resolver = soundIdentity();

    const reports = await diagnose({ host: `127.0.0.1:${server.target.port}` }, resolver);

    expect(reports['egress ip']?.status).toBe('warn');
    expect(reports['egress ip']?.detail).toMatch(/^127\.0\.0\.1 is loopback \(behind NAT\?\)/);
    expect(reports['reverse dns']).toMatchObject({ status: 'skip' });
    expect(reports['spf']).toMatchObject({ status: 'skip' });
    expect(resolver.queries).toEqual([]);
  });

  it('warns that the egress address is unknown when no connection was made', async () => {
    const reports = await diagnose({});

    expect(reports['egress ip']).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('no connection was made'),
    });
    expect(reports['reverse dns']?.status).toBe('skip');
  });

  it('fails an --egress-ip that is not an IP address', async () => {
    const reports = await diagnose({ egressIp: 'mta.acme-mail.net' });

    expect(reports['egress ip']).toMatchObject({ status: 'fail' });
    expect(reports['reverse dns']?.status).toBe('skip');
    expect(reports['spf']?.status).toBe('skip');
  });

  it('prefers the given public --egress-ip to the address of the connection', async () => {
    const server = await startBannerServer();

    const reports = await diagnose(
      { host: `127.0.0.1:${server.target.port}`, egressIp: PUBLIC_IP },
      soundIdentity(),
    );

    expect(reports['egress ip']).toMatchObject({ status: 'ok', detail: PUBLIC_IP });
    expect(reports['reverse dns']?.status).toBe('ok');
  });
});

describe('diagnoseSender: reverse DNS of a public egress address', () => {
  it('is ok when the PTR names the HELO host and the HELO host resolves back', async () => {
    const reports = await diagnose({ egressIp: PUBLIC_IP }, soundIdentity());

    expect(reports['reverse dns']).toEqual({
      name: 'reverse dns',
      status: 'ok',
      detail: `${PUBLIC_IP} <-> ${HELO_NAME}`,
    });
  });

  it('compares names without case or a trailing dot', async () => {
    const resolver = soundIdentity({ reverseZone: { [PUBLIC_IP]: ['MTA.Acme-Mail.net.'] } });

    const reports = await diagnose(
      { egressIp: PUBLIC_IP, heloName: 'MTA.acme-mail.NET' },
      resolver,
    );

    expect(reports['reverse dns']?.status).toBe('ok');
  });

  it('fails when the PTR names another host', async () => {
    const resolver = soundIdentity({ reverseZone: { [PUBLIC_IP]: ['dsl-8-8-8-8.isp.example'] } });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['reverse dns']).toEqual({
      name: 'reverse dns',
      status: 'fail',
      detail: `${PUBLIC_IP} -> dsl-8-8-8-8.isp.example; HELO name is ${HELO_NAME}`,
    });
  });

  it('fails when the egress address has no PTR record', async () => {
    const resolver = createIdentityResolver({ [HELO_NAME]: { A: [PUBLIC_IP] } });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['reverse dns']).toEqual({
      name: 'reverse dns',
      status: 'fail',
      detail: `${PUBLIC_IP} has no PTR record (ENOTFOUND)`,
    });
  });

  it('fails when the HELO host resolves to another address (Gmail 550 5.7.25)', async () => {
    const resolver = soundIdentity({ zone: { [HELO_NAME]: { A: [OTHER_PUBLIC_IP] } } });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['reverse dns']).toEqual({
      name: 'reverse dns',
      status: 'fail',
      detail: `${HELO_NAME} does not resolve back to ${PUBLIC_IP}`,
    });
  });

  it('warns, rather than fails, when the PTR lookup itself fails with SERVFAIL', async () => {
    const resolver = soundIdentity({ reverseZone: { [PUBLIC_IP]: 'ESERVFAIL' } });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['reverse dns']).toEqual({
      name: 'reverse dns',
      status: 'warn',
      detail: `could not look up the PTR of ${PUBLIC_IP} (ESERVFAIL)`,
    });
  });

  it('confirms an IPv6 egress address written in another form', async () => {
    const ipv6 = '2a00:1450:4001:800::200e';
    const resolver = createIdentityResolver(
      { [HELO_NAME]: { AAAA: [ipv6] } },
      { '2A00:1450:4001:0800:0:0:0:200E': [HELO_NAME] },
    );

    const reports = await diagnose({ egressIp: '2A00:1450:4001:0800:0:0:0:200E' }, resolver);

    expect(classifyAddress(ipv6)).toBe('public');
    expect(reports['reverse dns']?.status).toBe('ok');
  });
});

describe('diagnoseSender: SPF of the MAIL FROM domain', () => {
  it('is ok when the record passes the egress address', async () => {
    const reports = await diagnose({ egressIp: PUBLIC_IP }, soundIdentity());

    expect(reports['spf']).toEqual({
      name: 'spf',
      status: 'ok',
      detail: `${SENDER_DOMAIN} says pass for ${PUBLIC_IP} by ip4:${PUBLIC_IP}`,
    });
  });

  it('fails when the record fails the egress address', async () => {
    const resolver = soundIdentity({
      zone: { [SENDER_DOMAIN]: { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] } },
    });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['spf']).toEqual({
      name: 'spf',
      status: 'fail',
      detail: `${SENDER_DOMAIN} says fail for ${PUBLIC_IP} by -all`,
    });
  });

  it('fails when the domain publishes no SPF record', async () => {
    const resolver = soundIdentity({
      zone: { [SENDER_DOMAIN]: { TXT: ['google-site-verification=abc'] } },
    });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['spf']).toMatchObject({
      status: 'fail',
      detail: `${SENDER_DOMAIN} says none for ${PUBLIC_IP}`,
    });
  });

  it('warns when DNS cannot answer for the record', async () => {
    const resolver = soundIdentity({ zone: { [SENDER_DOMAIN]: { error: 'ESERVFAIL' } } });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['spf']).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('temperror'),
    });
  });

  it('evaluates with the MAIL FROM and HELO name as the sender', async () => {
    const resolver = soundIdentity({
      zone: {
        [SENDER_DOMAIN]: { TXT: ['v=spf1 exists:%{l}.%{h}.allow.acme-mail.net -all'] },
        [`bounce.${HELO_NAME}.allow.acme-mail.net`]: { A: ['127.0.0.2'] },
      },
    });

    const reports = await diagnose({ egressIp: PUBLIC_IP }, resolver);

    expect(reports['spf']?.status).toBe('ok');
  });
});

describe('mailverify doctor', () => {
  let dns: DnsServer;
  let mailServer: RawServer;

  const zoneFor = (spfRecord: string): Zone => ({
    [`${PUBLIC_IP.split('.').reverse().join('.')}.in-addr.arpa`]: { PTR: [HELO_NAME] },
    [HELO_NAME]: { A: [PUBLIC_IP] },
    [SENDER_DOMAIN]: { TXT: [spfRecord] },
  });

  beforeAll(async () => {
    dns = await startDnsServer(zoneFor(`v=spf1 ip4:${PUBLIC_IP} -all`));
    servers.push(dns);
    mailServer = await startBannerServer();
  });

  async function doctor(): Promise<{ status: number; lines: string[] }> {
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));

    const status = await run(
      [
        'doctor',
        ...['--host', `127.0.0.1:${mailServer.target.port}`],
        ...['--helo', HELO_NAME, '--from', MAIL_FROM],
        ...['--egress-ip', PUBLIC_IP, '--dns-server', dns.server],
      ],
      { stdin: Readable.from([]), stdout, env: {} },
    );
    return { status, lines: text.trimEnd().split('\n') };
  }

  it('prints one line per check, status and name in columns, and sets no failure', async () => {
    dns.setZone(zoneFor(`v=spf1 ip4:${PUBLIC_IP} -all`));

    const { status, lines } = await doctor();

    expect(status).toBe(0);
    expect(lines).toEqual([
      `ok    helo name      ${HELO_NAME}`,
      `ok    mail from      ${MAIL_FROM}`,
      `ok    outbound smtp  127.0.0.1 [127.0.0.1]:${mailServer.target.port} said "${BANNER}"`,
      `ok    egress ip      ${PUBLIC_IP}`,
      `ok    reverse dns    ${PUBLIC_IP} <-> ${HELO_NAME}`,
      `ok    spf            ${SENDER_DOMAIN} says pass for ${PUBLIC_IP} by ip4:${PUBLIC_IP}`,
    ]);
  });

  it('sets exit status 1 when a check fails', async () => {
    dns.setZone(zoneFor('v=spf1 -all'));

    const { status, lines } = await doctor();

    expect(lines.at(-1)).toBe(
      `fail  spf            ${SENDER_DOMAIN} says fail for ${PUBLIC_IP} by -all`,
    );
    expect(status).toBe(1);
  });
});

async function isClosedWithin(closed: Promise<void> | undefined, ms: number): Promise<boolean> {
  if (closed === undefined) return false;
  return Promise.race([closed.then(() => true), sleep(ms).then(() => false)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
