/**
 * A small authoritative DNS server on loopback for tests, so that the real
 * Node resolver (c-ares) can be exercised against a declared zone without
 * reaching the internet. It speaks UDP and TCP on the same ephemeral port:
 * answers too large for a UDP datagram are sent truncated, and the resolver
 * then asks again over TCP (RFC 1035 4.2.1, RFC 7766).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

export interface ZoneEntry {
  MX?: { preference: number; exchange: string }[];
  A?: string[];
  AAAA?: string[];
  TXT?: string[];
  PTR?: string[];
  /** How the server misbehaves for this name, whatever the type asked. */
  behaviour?: 'servfail' | 'timeout' | 'refused';
}

/** Keys are lower-case fully qualified names without the trailing dot. */
export type Zone = Record<string, ZoneEntry>;

export interface DnsQuery {
  name: string;
  type: string;
}

export interface DnsServer {
  /** "127.0.0.1:PORT", ready for `createResolver({ servers: [server] })`. */
  server: string;
  port: number;
  queries: DnsQuery[];
  setZone(zone: Zone): void;
  close(): Promise<void>;
}

/** RFC 1035 4.2.1: without EDNS a UDP message is at most 512 bytes. */
const MAX_UDP_MESSAGE_BYTES = 512;

/** RFC 1035 4.2.2: a TCP message is prefixed by its two-byte length. */
const TCP_LENGTH_PREFIX_BYTES = 2;
const MAX_TCP_MESSAGE_BYTES = 65_535;

/** A TCP client that says nothing for this long is disconnected. */
const TCP_IDLE_TIMEOUT_MS = 10_000;

const MAX_RECORDED_QUERIES = 10_000;
const MAX_BIND_ATTEMPTS = 10;
const RECORD_TTL_SECONDS = 60;

/** RFC 1035 4.1.1 header fields. */
const QUERY_OPCODE = 0;
const RCODES = { noError: 0, serverFailure: 2, nameError: 3, refused: 5 } as const;
type Rcode = (typeof RCODES)[keyof typeof RCODES];

/** RFC 1035 3.3.14: one TXT character-string holds at most 255 bytes. */
const MAX_TXT_CHUNK_BYTES = 255;

export async function startDnsServer(zone: Zone): Promise<DnsServer> {
  let records = toRecordMap(zone);
  const queries: DnsQuery[] = [];

  const respond = (message: Buffer, maxBytes: number): Buffer | null => {
    const query = decodeQuery(message);
    const question = query?.questions?.[0];
    if (!query || !question) return null;

    if (queries.length < MAX_RECORDED_QUERIES) {
      queries.push({ name: normalizeName(question.name), type: question.type });
    }

    const reply = answerQuestion(query, question, records);
    return reply && encodeWithinLimit(reply, maxBytes);
  };

  const { udp, tcp, port } = await bindBoth(respond);

  return {
    server: `127.0.0.1:${port}`,
    port,
    queries,
    setZone: (next) => {
      records = toRecordMap(next);
    },
    close: () => closeBoth(udp, tcp),
  };
}

type Responder = (message: Buffer, maxBytes: number) => Buffer | null;

interface Listeners {
  udp: dgram.Socket;
  tcp: TcpListener;
  port: number;
}

interface TcpListener {
  server: net.Server;
  sockets: Set<net.Socket>;
}

/**
 * UDP takes an ephemeral port first; TCP then claims the same number, which
 * another process may hold, so a few fresh ports are tried.
 */
async function bindBoth(respond: Responder): Promise<Listeners> {
  let lastError: unknown = null;

  for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt += 1) {
    const udp = await bindUdp(respond);
    const port = udp.address().port;
    try {
      const tcp = await bindTcp(respond, port);
      return { udp, tcp, port };
    } catch (error) {
      lastError = error;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
  }

  throw new Error('could not bind the test DNS server on UDP and TCP', { cause: lastError });
}

function bindUdp(respond: Responder): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');

  socket.on('message', (message, peer) => {
    if (message.length > MAX_UDP_MESSAGE_BYTES) return;

    const reply = respond(message, MAX_UDP_MESSAGE_BYTES);
    if (reply) socket.send(reply, peer.port, peer.address);
  });

  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

function bindTcp(respond: Responder, port: number): Promise<TcpListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveTcpConnection(socket, respond);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({ server, sockets });
    });
  });
}

function serveTcpConnection(socket: net.Socket, respond: Responder): void {
  let pending = Buffer.alloc(0);

  socket.setTimeout(TCP_IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());

  // Complete messages are consumed as soon as they arrive, and the length
  // prefix caps one message at 64 KiB, so `pending` stays bounded.
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);

    while (pending.length >= TCP_LENGTH_PREFIX_BYTES) {
      const length = pending.readUInt16BE(0);
      const end = TCP_LENGTH_PREFIX_BYTES + length;
      if (pending.length < end) break;

      const reply = respond(pending.subarray(TCP_LENGTH_PREFIX_BYTES, end), MAX_TCP_MESSAGE_BYTES);
      pending = pending.subarray(end);
      if (reply) socket.write(frameForTcp(reply));
    }
  });
}

function frameForTcp(message: Buffer): Buffer {
  const prefix = Buffer.alloc(TCP_LENGTH_PREFIX_BYTES);
  prefix.writeUInt16BE(message.length);
  return Buffer.concat([prefix, message]);
}

async function closeBoth(udp: dgram.Socket, tcp: TcpListener): Promise<void> {
  for (const socket of tcp.sockets) socket.destroy();

  await Promise.all([
    new Promise<void>((resolve) => udp.close(() => resolve())),
    new Promise<void>((resolve) => tcp.server.close(() => resolve())),
  ]);
}

/** Malformed packets, responses and anything but a one-question query are ignored. */
function decodeQuery(message: Buffer): DecodedPacket | null {
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    return null;
  }

  const opcode = ((packet.flags ?? 0) >> 11) & 0xf;
  const isQuery = !packet.flag_qr && opcode === QUERY_OPCODE;
  return isQuery && packet.questions?.length === 1 ? packet : null;
}

/** Null means "say nothing": the 'timeout' behaviour. */
function answerQuestion(
  query: DecodedPacket,
  question: Question,
  records: Map<string, ZoneEntry>,
): Packet | null {
  const name = normalizeName(question.name);
  const entry = records.get(name);

  if (!entry) return buildReply(query, question, RCODES.nameError, [], records);
  if (entry.behaviour === 'timeout') return null;
  if (entry.behaviour === 'servfail') {
    return buildReply(query, question, RCODES.serverFailure, [], records);
  }
  if (entry.behaviour === 'refused')
    return buildReply(query, question, RCODES.refused, [], records);

  const answers = listAnswers(entry, question);
  return buildReply(query, question, RCODES.noError, answers, records);
}

function buildReply(
  query: DecodedPacket,
  question: Question,
  rcode: Rcode,
  answers: Answer[],
  records: Map<string, ZoneEntry>,
): Packet {
  const recursionDesired = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const isNegative = rcode === RCODES.noError ? answers.length === 0 : rcode === RCODES.nameError;

  // RFC 2308 2.1 and 2.2: NXDOMAIN and NODATA answers carry the zone's SOA,
  // which is how a resolver tells "no such name" from "no such record".
  const authorities: Answer[] = isNegative ? [buildSoa(question.name, records)] : [];

  return {
    type: 'response',
    id: query.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | recursionDesired | rcode,
    questions: [question],
    answers,
    authorities,
  };
}

function listAnswers(entry: ZoneEntry, question: Question): Answer[] {
  const base = { name: question.name, ttl: RECORD_TTL_SECONDS, class: 'IN' as const };

  const type = question.type;
  switch (type) {
    case 'A':
    case 'AAAA':
    case 'PTR':
      return (entry[type] ?? []).map((data) => ({ ...base, type, data }));
    case 'MX':
      return (entry.MX ?? []).map((data) => ({ ...base, type: 'MX', data }));
    case 'TXT':
      return (entry.TXT ?? []).map((text) => ({ ...base, type: 'TXT', data: splitTxt(text) }));
    default:
      return [];
  }
}

function splitTxt(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += MAX_TXT_CHUNK_BYTES) {
    chunks.push(bytes.subarray(start, start + MAX_TXT_CHUNK_BYTES));
  }
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

/** The SOA is owned by the closest enclosing name of the zone, or the root. */
function buildSoa(queried: string, records: Map<string, ZoneEntry>): Answer {
  const labels = normalizeName(queried).split('.');
  let owner = '.';
  for (let index = 0; index < labels.length; index += 1) {
    const candidate = labels.slice(index).join('.');
    if (records.has(candidate)) {
      owner = candidate;
      break;
    }
  }

  return {
    type: 'SOA',
    name: owner,
    ttl: RECORD_TTL_SECONDS,
    class: 'IN',
    data: {
      mname: 'ns.test',
      rname: 'hostmaster.test',
      serial: 1,
      refresh: 3600,
      retry: 600,
      expire: 86_400,
      minimum: RECORD_TTL_SECONDS,
    },
  };
}

/**
 * RFC 1035 4.2.1: an answer that does not fit is sent with TC set and no
 * records, so the client repeats the question over TCP.
 */
function encodeWithinLimit(reply: Packet, maxBytes: number): Buffer | null {
  const encoded = dnsPacket.encode(reply);
  if (encoded.length <= maxBytes) return encoded;

  const truncated: Packet = {
    ...reply,
    flags: (reply.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
  };
  const fallback = dnsPacket.encode(truncated);
  return fallback.length <= maxBytes ? fallback : null;
}

function toRecordMap(zone: Zone): Map<string, ZoneEntry> {
  return new Map(Object.entries(zone).map(([name, entry]) => [normalizeName(name), entry]));
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}
