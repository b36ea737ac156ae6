/**
 * A loopback world for end-to-end verification tests: one DNS server and a
 * set of mail servers, each on its own 127.0.0.x address and all on one
 * port (the verifier, like an MTA, uses one SMTP port for every server).
 * Ordinary behaviour comes from smtp-server; byte-exact and malformed
 * behaviour from raw sockets.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';

import type { VerifierSettings } from '../../src/verify/verify-address.js';
import { startDnsServer } from './dns-server.js';
import type { DnsServer, Zone } from './dns-server.js';

/** A reply written as on the wire, e.g. "550 5.1.1 No such user". */
type RawReply = string;

export interface SmtpHostSpec {
  kind: 'smtp';
  /** Local parts that exist; the rest get `unknownReply`. */
  mailboxes?: string[];
  /** Accept every recipient. */
  isCatchAll?: boolean;
  unknownReply?: RawReply;
  /** Per local part, a reply that replaces acceptance (full, disabled...). */
  replies?: Record<string, RawReply>;
  /** Reply to every RCPT (a policy block). */
  everyRcpt?: RawReply;
  /** Reply to MAIL FROM. */
  mailReply?: RawReply;
  /** RCPTs deferred per recipient before the real answer is given. */
  greylistCount?: number;
  /** Domains whose recipients are greylisted; by default every domain's. */
  greylistDomains?: string[];
  greylistReply?: RawReply;
  tls?: 'none' | 'offered' | 'required';
  smtputf8?: boolean;
}

export interface RawHostSpec {
  kind: 'raw';
  /** Runs for each connection; the world destroys the socket at close. */
  onConnection: (socket: Socket) => void;
}

export interface RefusedHostSpec {
  kind: 'refused';
}

export type HostSpec = SmtpHostSpec | RawHostSpec | RefusedHostSpec;

export interface HostLog {
  connections: number;
  /** Connections open now, and the most open at once. */
  open: number;
  peakOpen: number;
  /** Session ids mapped to how many RCPTs they were refused. */
  refusedBySession: Map<string, number>;
  mailFrom: string[];
  rcptTo: string[];
  sawData: boolean;
  /** Session ids mapped to the recipients asked in that session. */
  sessions: Map<string, string[]>;
}

export interface TestWorld {
  port: number;
  dns: DnsServer;
  logs: Map<string, HostLog>;
  /** Settings that point the verifier at this world, retries short. */
  settings(overrides?: Partial<VerifierSettings>): VerifierSettings;
  close(): Promise<void>;
}

const MAX_PORT_ATTEMPTS = 30;

export async function startTestWorld(
  hosts: Record<string, HostSpec>,
  zone: Zone,
): Promise<TestWorld> {
  const logs = new Map<string, HostLog>();
  for (const ip of Object.keys(hosts)) logs.set(ip, emptyLog());

  const { port, closers } = await listenOnCommonPort(hosts, logs);
  const dns = await startDnsServer(zone);

  return {
    port,
    dns,
    logs,
    settings: (overrides = {}) => ({
      heloName: 'verifier.mailverify.test',
      mailFrom: 'probe@verifier.mailverify.test',
      smtpPort: port,
      allowPrivateMx: true,
      greylistRetry: [0.05, 0.05],
      timeout: 5,
      startTls: true,
      catchAllProbe: true,
      ...overrides,
    }),
    close: async () => {
      await Promise.all(closers.map((close) => close()));
      await dns.close();
    },
  };
}

function emptyLog(): HostLog {
  return {
    connections: 0,
    open: 0,
    peakOpen: 0,
    refusedBySession: new Map(),
    mailFrom: [],
    rcptTo: [],
    sawData: false,
    sessions: new Map(),
  };
}

async function listenOnCommonPort(
  hosts: Record<string, HostSpec>,
  logs: Map<string, HostLog>,
): Promise<{ port: number; closers: (() => Promise<void>)[] }> {
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const closers: (() => Promise<void>)[] = [];
    try {
      for (const [ip, spec] of Object.entries(hosts)) {
        if (spec.kind === 'refused') continue;
        closers.push(await listen(ip, port, spec, logs.get(ip)!));
      }
      return { port, closers };
    } catch (error) {
      await Promise.all(closers.map((close) => close()));
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error('no free common port for the test world');
}

function listen(
  ip: string,
  port: number,
  spec: SmtpHostSpec | RawHostSpec,
  log: HostLog,
): Promise<() => Promise<void>> {
  if (spec.kind === 'raw') return listenRaw(ip, port, spec, log);
  return listenSmtp(ip, port, spec, log);
}

function listenRaw(
  ip: string,
  port: number,
  spec: RawHostSpec,
  log: HostLog,
): Promise<() => Promise<void>> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    log.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    spec.onConnection(socket);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      resolve(async () => {
        sockets.forEach((socket) => socket.destroy());
        await new Promise<void>((done) => server.close(() => done()));
      });
    });
  });
}

function listenSmtp(
  ip: string,
  port: number,
  spec: SmtpHostSpec,
  log: HostLog,
): Promise<() => Promise<void>> {
  const deferrals = new Map<string, number>();
  const mailboxes = new Set((spec.mailboxes ?? []).map((local) => local.toLowerCase()));

  const server = new SMTPServer({
    name: `mx.${ip}`,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideSTARTTLS: spec.tls === 'none' || spec.tls === undefined,
    hideSMTPUTF8: !spec.smtputf8,
    logger: false,
    onConnect(_session, callback) {
      log.connections += 1;
      log.open += 1;
      log.peakOpen = Math.max(log.peakOpen, log.open);
      callback();
    },
    onClose() {
      log.open -= 1;
    },
    onMailFrom(address, session, callback) {
      log.mailFrom.push(address.address);
      if (spec.tls === 'required' && !session.secure) {
        return callback(replyError('530 5.7.0 Must issue a STARTTLS command first'));
      }
      callback(spec.mailReply ? replyError(spec.mailReply) : undefined);
    },
    onRcptTo(address, session, callback) {
      log.rcptTo.push(address.address);
      const inSession = log.sessions.get(session.id) ?? [];
      log.sessions.set(session.id, [...inSession, address.address]);
      const refusal = decideRcpt(address, session);
      if (refusal) {
        const refused = log.refusedBySession.get(session.id) ?? 0;
        log.refusedBySession.set(session.id, refused + 1);
      }
      callback(refusal ?? undefined);
    },
    onData(stream, _session, callback) {
      log.sawData = true;
      stream.resume();
      stream.on('end', () => callback(replyError('554 5.3.0 test world takes no data')));
    },
  });
  server.on('error', () => undefined);

  const decideRcpt = (address: SMTPServerAddress, _session: SMTPServerSession) => {
    if (spec.everyRcpt) return replyError(spec.everyRcpt);

    const recipient = address.address.toLowerCase();
    const domain = recipient.slice(recipient.lastIndexOf('@') + 1);
    const greylists = spec.greylistDomains?.includes(domain) ?? true;
    const seen = deferrals.get(recipient) ?? 0;
    if (greylists && seen < (spec.greylistCount ?? 0)) {
      deferrals.set(recipient, seen + 1);
      return replyError(spec.greylistReply ?? '450 4.2.0 Greylisted, see the help page');
    }

    const local = recipient.slice(0, recipient.lastIndexOf('@'));
    const special = spec.replies?.[local];
    if (special) return replyError(special);
    if (spec.isCatchAll || mailboxes.has(local)) return null;
    return replyError(spec.unknownReply ?? '550 5.1.1 <' + recipient + '>: User unknown');
  };

  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, ip, () => {
      resolve(() => new Promise<void>((done) => server.close(() => done())));
    });
  });
}

/** smtp-server sends an error as "<responseCode> <message>". */
function replyError(raw: RawReply): Error & { responseCode: number } {
  const code = Number(raw.slice(0, 3));
  const error = new Error(raw.slice(4)) as Error & { responseCode: number };
  error.responseCode = code;
  return error;
}

/** Writes lines with CRLF, as a mail server would. */
export function writeLines(socket: Socket, ...lines: string[]): void {
  if (!socket.destroyed) socket.write(lines.map((line) => `${line}\r\n`).join(''));
}

/**
 * A raw server that answers the usual commands in order with the given
 * replies keyed by verb (first word of the command).
 */
export function scriptedServer(banner: string, answers: Record<string, string[]>): RawHostSpec {
  return {
    kind: 'raw',
    onConnection(socket) {
      writeLines(socket, banner);
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
          const line = buffered.slice(0, end).trim();
          buffered = buffered.slice(end + 1);
          const verb = line.split(/[\s:]/)[0]?.toUpperCase() ?? '';
          writeLines(socket, ...(answers[verb] ?? ['502 5.5.2 not here']));
          if (verb === 'QUIT') socket.end();
        }
      });
    },
  };
}
