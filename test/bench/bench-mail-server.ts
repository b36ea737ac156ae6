/**
 * A mail server for the benchmark that answers the way Postfix does and
 * counts, from its own side, what a verifier costs it: connections,
 * sessions open at once, command lines, RCPTs and refused RCPTs.
 *
 * It is written on raw sockets rather than smtp-server because smtp-server
 * holds every greeting back 100 ms to catch early talkers, a cost real
 * Postfix does not charge and one that would fall almost entirely on the
 * verifier that opens the most connections. Like Postfix it reads
 * pipelined commands in order and sends the replies to one read in one
 * write, and it punishes a client that makes errors (postconf(5)):
 * smtpd_soft_error_limit = 10 (after that every reply waits
 * smtpd_error_sleep_time = 1s), smtpd_hard_error_limit = 20 (then
 * "421 4.7.0 Error: too many errors" and the connection is closed).
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/** A reply as on the wire without CRLF, e.g. "550 5.1.1 <a@b.test>: ..."; null accepts. */
export type RcptDecision = string | null;

export interface BenchMailServerOptions {
  ip: string;
  port: number;
  name: string;
  /** The answer to RCPT TO for one recipient (lower-cased address). */
  decideRcpt: (recipient: string) => RcptDecision;
  softErrorLimit?: number;
  hardErrorLimit?: number;
  errorSleepMs?: number;
  /** Told of every session that starts (+1) and ends (-1). */
  onSessions?: (change: 1 | -1) => void;
}

export interface ServerCounters {
  connections: number;
  openSessions: number;
  peakOpenSessions: number;
  commands: number;
  rcpts: number;
  rejectedRcpts: number;
  /** Most non-2xx RCPT replies given in one session. */
  peakRejectedInSession: number;
  /** Sessions that reached the soft error limit and were slowed down. */
  slowedSessions: number;
  /** Sessions closed at the hard error limit. */
  droppedSessions: number;
  /** DATA commands; a verifier must never send one. */
  dataCommands: number;
}

export interface BenchMailServer {
  ip: string;
  /** The port listened on (the one given, or the one the system chose for 0). */
  port: number;
  counters: ServerCounters;
  /** Zeroes the counts; the peak of open sessions restarts from those open now. */
  resetCounters(): void;
  close(): Promise<void>;
}

const SOFT_ERROR_LIMIT = 10;
const HARD_ERROR_LIMIT = 20;
const ERROR_SLEEP_MS = 1_000;

/** Postfix smtpd_timeout is 300 s; a benchmark client idle this long is gone. */
const IDLE_TIMEOUT_MS = 60_000;

/** Postfix line_length_limit is 2048; a longer line without LF ends the session. */
const MAX_LINE_BYTES = 2_048;

/** Postfix smtpd_recipient_limit. */
const MAX_RECIPIENTS_PER_MESSAGE = 1_000;

const PATH_ARGUMENT = /^(MAIL FROM|RCPT TO):\s*<([^<>]*)>/i;

export function emptyCounters(): ServerCounters {
  return {
    connections: 0,
    openSessions: 0,
    peakOpenSessions: 0,
    commands: 0,
    rcpts: 0,
    rejectedRcpts: 0,
    peakRejectedInSession: 0,
    slowedSessions: 0,
    droppedSessions: 0,
    dataCommands: 0,
  };
}

export async function startBenchMailServer(
  options: BenchMailServerOptions,
): Promise<BenchMailServer> {
  const counters = emptyCounters();
  const sockets = new Set<Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    counters.connections += 1;
    counters.openSessions += 1;
    counters.peakOpenSessions = Math.max(counters.peakOpenSessions, counters.openSessions);
    options.onSessions?.(1);
    // A session is over once the server has written its last byte (after
    // 221 or 421, as Postfix's smtpd leaves the client then), or the
    // connection closes: the client's FIN, a round trip later, does not
    // keep it open.
    let isOpen = true;
    const leave = (): void => {
      if (isOpen) {
        counters.openSessions -= 1;
        options.onSessions?.(-1);
      }
      isOpen = false;
    };
    socket.once('finish', leave);
    socket.on('close', () => {
      sockets.delete(socket);
      leave();
    });
    serveSession(socket, options, counters);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.ip, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    ip: options.ip,
    port: (server.address() as AddressInfo).port,
    counters,
    resetCounters: () => {
      Object.assign(counters, emptyCounters(), {
        openSessions: counters.openSessions,
        peakOpenSessions: counters.openSessions,
      });
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface SessionState {
  hasGreeted: boolean;
  hasSender: boolean;
  recipients: number;
  errors: number;
  rejectedRcpts: number;
  isClosing: boolean;
  /** When the last slowed-down reply is due; replies after it queue behind it. */
  slowedUntil: number;
  /** Replies to the current read, written together. */
  batch: string[];
}

function serveSession(
  socket: Socket,
  options: BenchMailServerOptions,
  counters: ServerCounters,
): void {
  const limits = {
    soft: options.softErrorLimit ?? SOFT_ERROR_LIMIT,
    hard: options.hardErrorLimit ?? HARD_ERROR_LIMIT,
    sleepMs: options.errorSleepMs ?? ERROR_SLEEP_MS,
  };
  const state: SessionState = {
    hasGreeted: false,
    hasSender: false,
    recipients: 0,
    errors: 0,
    rejectedRcpts: 0,
    isClosing: false,
    slowedUntil: 0,
    batch: [],
  };
  let buffered = '';

  const flush = (): void => {
    if (state.batch.length === 0 || socket.destroyed) return;
    socket.write(state.batch.join(''));
    state.batch = [];
  };

  // A reply counts as an error when it is 4xx or 5xx; once the count has
  // reached the soft limit, each reply waits its turn behind the last one.
  const reply = (line: string, thenClose = false): void => {
    const wire = `${line}\r\n`;
    if (state.errors >= limits.soft) {
      flush();
      if (state.slowedUntil === 0) counters.slowedSessions += 1;
      state.slowedUntil = Math.max(Date.now(), state.slowedUntil) + limits.sleepMs;
      setTimeout(() => {
        if (socket.destroyed) return;
        socket.write(wire);
        if (thenClose) socket.end();
      }, state.slowedUntil - Date.now());
    } else {
      state.batch.push(wire);
      if (thenClose) {
        flush();
        socket.end();
      }
    }
    if (/^[45]/.test(line) && !line.startsWith('421')) state.errors += 1;
  };

  const onLine = (line: string): void => {
    counters.commands += 1;
    if (state.errors >= limits.hard) {
      counters.droppedSessions += 1;
      state.isClosing = true;
      reply(`421 4.7.0 ${options.name} Error: too many errors`, true);
      return;
    }
    answerCommand(line, state, options, counters, reply);
  };

  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  // What arrives after the session started closing is read and dropped.
  socket.on('data', (chunk: Buffer) => {
    if (state.isClosing) return;
    buffered += chunk.toString('latin1');
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end).replace(/\r$/, '');
      buffered = buffered.slice(end + 1);
      onLine(line);
      if (state.isClosing) break;
    }
    if (buffered.length > MAX_LINE_BYTES && !state.isClosing) {
      state.isClosing = true;
      reply('500 5.5.2 Error: line too long', true);
    }
    if (state.isClosing) buffered = '';
    flush();
  });

  state.batch.push(`220 ${options.name} ESMTP Postfix\r\n`);
  flush();
}

type Reply = (line: string, thenClose?: boolean) => void;

function answerCommand(
  line: string,
  state: SessionState,
  options: BenchMailServerOptions,
  counters: ServerCounters,
  reply: Reply,
): void {
  const verb = /^[A-Za-z]+/.exec(line)?.[0]?.toUpperCase() ?? '';

  switch (verb) {
    case 'EHLO':
      state.hasGreeted = true;
      resetTransaction(state);
      return reply(ehloReply(options.name));
    case 'HELO':
      state.hasGreeted = true;
      resetTransaction(state);
      return reply(`250 ${options.name}`);
    case 'MAIL':
      return answerMail(line, state, reply);
    case 'RCPT':
      return answerRcpt(line, state, options, counters, reply);
    case 'RSET':
      resetTransaction(state);
      return reply('250 2.0.0 Ok');
    case 'NOOP':
      return reply('250 2.0.0 Ok');
    case 'QUIT':
      state.isClosing = true;
      return reply('221 2.0.0 Bye', true);
    case 'DATA':
      counters.dataCommands += 1;
      return reply('554 5.5.1 Error: no valid recipients');
    case 'VRFY':
      return reply('502 5.5.1 VRFY command is disabled');
    default:
      return reply('502 5.5.2 Error: command not recognized');
  }
}

function answerMail(line: string, state: SessionState, reply: Reply): void {
  if (!state.hasGreeted) return reply('503 5.5.1 Error: send HELO/EHLO first');
  if (state.hasSender) return reply('503 5.5.1 Error: nested MAIL command');
  if (!PATH_ARGUMENT.test(line)) return reply('501 5.5.4 Syntax: MAIL FROM:<address>');

  state.hasSender = true;
  reply('250 2.1.0 Ok');
}

function answerRcpt(
  line: string,
  state: SessionState,
  options: BenchMailServerOptions,
  counters: ServerCounters,
  reply: Reply,
): void {
  counters.rcpts += 1;
  const refuse = (text: string): void => {
    state.rejectedRcpts += 1;
    counters.rejectedRcpts += 1;
    counters.peakRejectedInSession = Math.max(counters.peakRejectedInSession, state.rejectedRcpts);
    reply(text);
  };

  if (!state.hasSender) return refuse('503 5.5.1 Error: need MAIL command');
  const recipient = PATH_ARGUMENT.exec(line)?.[2]?.toLowerCase();
  if (recipient === undefined || !recipient.includes('@')) {
    return refuse('501 5.1.3 Bad recipient address syntax');
  }
  if (state.recipients >= MAX_RECIPIENTS_PER_MESSAGE) {
    return refuse('452 4.5.3 Error: too many recipients');
  }

  const decision = options.decideRcpt(recipient);
  if (decision !== null) return refuse(decision);
  state.recipients += 1;
  reply('250 2.1.5 Ok');
}

function ehloReply(name: string): string {
  const lines = [name, 'PIPELINING', 'SIZE 10240000', 'ENHANCEDSTATUSCODES', '8BITMIME'];
  return lines
    .map((text, index) => `250${index < lines.length - 1 ? '-' : ' '}${text}`)
    .join('\r\n');
}

function resetTransaction(state: SessionState): void {
  state.hasSender = false;
  state.recipients = 0;
}
