/**
 * Mail servers for session tests, all on 127.0.0.1 with ephemeral ports:
 * smtp-server wrapped to record what reached it, and a raw TCP server
 * scripted line by line for the misbehaviour smtp-server will not show
 * (silence, endless lines, replies out of turn, chopped-up chunks).
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerOptions } from 'smtp-server';

import type { SocketTarget } from '../../src/verify/types.js';

export interface ReplyRule {
  code: number;
  message: string;
}

export interface RecordingSmtpServerOptions {
  /** Replies to RCPT TO for these recipients instead of accepting them. */
  rcptReplies?: Record<string, ReplyRule>;
  /** Answers MAIL with 530 5.7.0 until the session is under TLS. */
  requiresTls?: boolean;
  /** Passed through to smtp-server (key, cert, hideSTARTTLS, ...). */
  server?: SMTPServerOptions;
}

export interface RecordingSmtpServer {
  target: SocketTarget;
  /** MAIL FROM addresses, in arrival order. */
  mailFrom: string[];
  rcptTo: string[];
  /** Whether each MAIL FROM arrived over TLS. */
  mailOverTls: boolean[];
  /** How many times a DATA command reached the message stage. */
  dataCount: number;
  close(): Promise<void>;
}

export async function startRecordingSmtpServer(
  options: RecordingSmtpServerOptions = {},
): Promise<RecordingSmtpServer> {
  const record = { mailFrom: [] as string[], rcptTo: [] as string[], mailOverTls: [] as boolean[] };
  let dataCount = 0;

  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideENHANCEDSTATUSCODES: false,
    closeTimeout: 500,
    ...options.server,
    onMailFrom(address, session, callback) {
      record.mailFrom.push(address.address);
      record.mailOverTls.push(session.secure);
      if (options.requiresTls === true && !session.secure) {
        callback(replyError({ code: 530, message: 'Must issue a STARTTLS command first' }));
        return;
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      record.rcptTo.push(address.address);
      const rule = options.rcptReplies?.[address.address];
      callback(rule === undefined ? undefined : replyError(rule));
    },
    onData(stream, _session, callback) {
      dataCount += 1;
      stream.resume();
      stream.on('end', () => callback());
    },
  });

  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;

  return {
    target: { host: 'localhost', ip: '127.0.0.1', port },
    ...record,
    get dataCount() {
      return dataCount;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function replyError(rule: ReplyRule): Error {
  return Object.assign(new Error(rule.message), { responseCode: rule.code });
}

/** One accepted connection of a raw server, seen from the server's side. */
export class RawConnection {
  /** Every chunk as it arrived from the client. */
  readonly chunks: Buffer[] = [];
  readonly closed: Promise<void>;
  private buffer = '';
  private isClosed = false;
  private wake: (() => void) | null = null;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffer += chunk.toString('utf8');
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        this.wake?.();
        resolve();
      });
    });
  }

  /** Everything received so far. */
  get received(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Complete lines received so far and not yet read. */
  get bufferedLines(): string[] {
    return this.buffer.split('\n').slice(0, -1);
  }

  /** The next line without its line end; null once closed or after timeoutMs. */
  async readLine(timeoutMs = 5_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;

    while (!this.buffer.includes('\n')) {
      const left = deadline - Date.now();
      if (this.isClosed || left <= 0) {
        return null;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }

    const end = this.buffer.indexOf('\n');
    const line = this.buffer.slice(0, end).replace(/\r$/, '');
    this.buffer = this.buffer.slice(end + 1);
    return line;
  }

  /** Writes and waits until the bytes are handed to the kernel; false once closed. */
  write(data: string | Buffer): Promise<boolean> {
    if (this.socket.destroyed || !this.socket.writable) {
      return Promise.resolve(false);
    }
    return new Promise((resolve) => this.socket.write(data, (error) => resolve(!error)));
  }

  end(): void {
    this.socket.end();
  }
}

export interface RawServer {
  target: SocketTarget;
  connections: RawConnection[];
  /** Errors thrown by the script, kept so a test can assert there were none. */
  scriptErrors: unknown[];
  close(): Promise<void>;
}

export async function startRawServer(
  script: (connection: RawConnection) => Promise<void> | void,
): Promise<RawServer> {
  const connections: RawConnection[] = [];
  const scriptErrors: unknown[] = [];

  const server = net.createServer((socket) => {
    const connection = new RawConnection(socket);
    connections.push(connection);
    Promise.resolve()
      .then(() => script(connection))
      .catch((error: unknown) => {
        scriptErrors.push(error);
        socket.destroy();
      });
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    target: { host: 'mx.example.test', ip: '127.0.0.1', port },
    connections,
    scriptErrors,
    close: async () => {
      for (const connection of connections) {
        connection.socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What a line server answers: lines (each sent with CRLF), or nothing. */
export type Answer = string | string[] | null;

export interface LineServerOptions {
  banner?: Answer;
  /** Default: `answerPlainly` with no extensions. */
  respond?: (line: string, connection: RawConnection) => Answer | Promise<Answer>;
}

/** Most lines one test conversation may hold; keeps the serving loop bounded. */
const MAX_SCRIPTED_LINES = 1_000;

/** A raw server that greets, then answers each command line in turn. */
export function startLineServer(options: LineServerOptions = {}): Promise<RawServer> {
  const respond = options.respond ?? ((line: string) => answerPlainly(line));

  return startRawServer(async (connection) => {
    await sendAnswer(connection, options.banner ?? '220 mx.example.test ESMTP ready');

    for (let count = 0; count < MAX_SCRIPTED_LINES; count++) {
      const line = await connection.readLine(30_000);
      if (line === null) {
        return;
      }
      await sendAnswer(connection, await respond(line, connection));
      if (/^QUIT/i.test(line)) {
        connection.end();
        return;
      }
    }
  });
}

export async function sendAnswer(connection: RawConnection, answer: Answer): Promise<void> {
  if (answer === null) {
    return;
  }
  const lines = typeof answer === 'string' ? [answer] : answer;
  await connection.write(lines.map((line) => `${line}\r\n`).join(''));
}

/** A polite server: every command accepted, EHLO listing the given extensions. */
export function answerPlainly(line: string, extensions: string[] = []): Answer {
  const verb = line.split(/[ :]/, 1)[0]?.toUpperCase() ?? '';

  switch (verb) {
    case 'EHLO':
      return ehloReply(extensions);
    case 'HELO':
      return '250 mx.example.test';
    case 'MAIL':
    case 'RCPT':
    case 'RSET':
      return '250 2.0.0 OK';
    case 'QUIT':
      return '221 2.0.0 Bye';
    default:
      return '502 5.5.1 Unrecognized command';
  }
}

export function ehloReply(extensions: string[]): string[] {
  const lines = ['mx.example.test greets you', ...extensions];
  return lines.map((text, index) => `250${index === lines.length - 1 ? ' ' : '-'}${text}`);
}

/** A loopback port with nothing listening on it. */
export async function findClosedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface StalledListener {
  target: SocketTarget;
  close(): Promise<void>;
}

/**
 * A loopback port whose listener never accepts, so a connect attempt hangs
 * like one to a host that drops SYNs. The listener lives in a worker thread
 * that blocks at once; after its small backlog fills up (the filler
 * connections), the kernel leaves further SYNs unanswered.
 */
export async function startStalledListener(): Promise<StalledListener> {
  const worker = new Worker(STALLED_LISTENER_SOURCE, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: net.Socket[] = [];

  // Linux queues backlog + 1 completed handshakes; fill them, then a few more.
  for (let index = 0; index < 4; index++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));

  return {
    target: { host: 'stalled.example.test', ip: '127.0.0.1', port },
    close: async () => {
      for (const socket of fillers) {
        socket.destroy();
      }
      await worker.terminate();
    },
  };
}

const STALLED_LISTENER_SOURCE = `
const net = require('node:net');
const { parentPort } = require('node:worker_threads');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
});
`;
