/**
 * The byte stream under an SMTP session: writes command lines, parses
 * replies and hands each to the oldest waiting command. Every command queues
 * the wait for its own reply, in order, so a reply is always matched to the
 * command that asked for it. Any transport trouble ends the channel for
 * good: the socket is destroyed and every wait, present or future, fails.
 */
import type { Duplex } from 'node:stream';
import { SmtpReplyReader } from './smtp-reply-reader.js';
import type { ReceivedReply } from './smtp-reply-reader.js';
import type { SessionFailure, StepResult } from './smtp-session.js';
import type { SmtpReply, Stage } from './types.js';

/** A failure of the channel itself; each waiting step adds its own stage. */
export type ChannelFailure = Omit<SessionFailure, 'stage'>;

export interface ChannelSettings {
  limits: { maxLineBytes?: number; maxLines?: number };
  onTranscript: ((direction: 'client' | 'server', line: string) => void) | undefined;
  /** Called once, when the channel fails or is closed. */
  onFailed: () => void;
}

interface PendingReply {
  stage: Stage;
  timeoutMs: number;
  handsOverToTls: boolean;
  resolve: (result: StepResult) => void;
  timer: NodeJS.Timeout | null;
}

export class ReplyChannel {
  private socket: Duplex;
  private readonly sockets: Duplex[] = [];
  private reader: SmtpReplyReader;
  private readonly pending: PendingReply[] = [];
  private failure: ChannelFailure | null = null;
  private readonly settings: ChannelSettings;

  private readonly onData = (chunk: Buffer | string): void => {
    const output = this.reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);

    for (const received of output.replies) {
      if (!this.deliver(received)) {
        return;
      }
    }
    if (output.error !== null) {
      this.fail({ kind: 'protocol_error', message: output.error });
    }
  };

  private readonly onEnd = (): void => {
    const message = this.reader.hasPartialReply
      ? 'connection closed in the middle of a reply'
      : 'connection closed by the server';
    this.fail({ kind: 'closed', message });
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    const failure: ChannelFailure = {
      kind: 'closed',
      message: `connection error: ${error.message}`,
    };
    this.fail(error.code === undefined ? failure : { ...failure, code: error.code });
  };

  constructor(socket: Duplex, settings: ChannelSettings) {
    this.settings = settings;
    this.socket = socket;
    this.reader = new SmtpReplyReader(settings.limits);
    this.listen(socket);
  }

  get hasFailed(): boolean {
    return this.failure !== null;
  }

  get currentSocket(): Duplex {
    return this.socket;
  }

  failureAt(stage: Stage): SessionFailure {
    const failure = this.failure ?? { kind: 'closed', message: 'session is not open' };
    return { ...failure, stage };
  }

  /**
   * Queues the wait for the next reply. With `handsOverToTls`, a positive
   * reply stops the reading: the next bytes belong to the TLS handshake.
   */
  expect(stage: Stage, timeoutMs: number, handsOverToTls = false): Promise<StepResult> {
    if (this.failure !== null) {
      return Promise.resolve({ ok: false, failure: this.failureAt(stage) });
    }

    return new Promise((resolve) => {
      this.pending.push({ stage, timeoutMs, handsOverToTls, resolve, timer: null });
      if (this.pending.length === 1) {
        this.startHeadTimer();
      }
    });
  }

  /** Writes complete command lines, CRLF included, in one write. */
  write(lines: string[]): void {
    for (const line of lines) {
      this.settings.onTranscript?.('client', line.slice(0, -2));
    }
    this.socket.write(lines.join(''));
  }

  /** Continues over the TLS socket with a fresh reader (RFC 3207 4.2). */
  continueOver(socket: Duplex): void {
    this.socket = socket;
    this.reader = new SmtpReplyReader(this.settings.limits);
    this.listen(socket);
  }

  fail(failure: ChannelFailure): void {
    if (this.failure !== null) {
      return;
    }
    this.failure = failure;

    for (const socket of this.sockets) {
      this.stopListening(socket);
      // A destroyed socket can still report a write that was in flight; with
      // no listener left that 'error' event would crash the process.
      socket.on('error', ignoreError);
      socket.destroy();
    }

    for (const waiting of this.pending.splice(0)) {
      clearPendingTimer(waiting);
      waiting.resolve({ ok: false, failure: { ...failure, stage: waiting.stage } });
    }
    this.settings.onFailed();
  }

  /** Returns false once the channel stopped reading (failed or handed to TLS). */
  private deliver(received: ReceivedReply): boolean {
    for (const line of received.lines) {
      this.settings.onTranscript?.('server', line);
    }

    const waiting = this.pending.shift();
    if (waiting === undefined) {
      this.fail(unaskedReplyFailure(received.reply));
      return false;
    }
    clearPendingTimer(waiting);
    waiting.resolve({ ok: true, reply: received.reply });

    // Bytes after the go-ahead for STARTTLS, in this chunk or later ones,
    // are never read as replies: a man in the middle could inject them in
    // the clear to be believed once TLS is up ("response injection"), and
    // RFC 3207 4.2 starts the conversation afresh after the handshake.
    if (waiting.handsOverToTls && isPositive(received.reply)) {
      this.socket.off('data', this.onData);
      this.socket.off('end', this.onEnd);
      this.socket.pause();
      return false;
    }

    this.startHeadTimer();
    return true;
  }

  private startHeadTimer(): void {
    const head = this.pending[0];
    if (head === undefined) {
      return;
    }

    head.timer = setTimeout(() => {
      this.fail({ kind: 'timeout', message: `no reply within ${head.timeoutMs} ms` });
    }, head.timeoutMs);
  }

  private listen(socket: Duplex): void {
    this.sockets.push(socket);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    socket.resume();
  }

  private stopListening(socket: Duplex): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEnd);
    socket.off('error', this.onError);
  }
}

/** RFC 5321 4.2.1: a 2yz reply is a positive completion. */
export function isPositive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

/**
 * A reply nobody asked for means the server is out of step: any later reply
 * could be taken for the answer to the wrong command, so the session ends.
 * RFC 5321 3.8 lets a server announce an unrequested 421 before it closes.
 */
function unaskedReplyFailure(reply: SmtpReply): ChannelFailure {
  const message = `reply before any command was sent: ${reply.code} ${reply.text}`;
  return { kind: reply.code === 421 ? 'closed' : 'protocol_error', message };
}

function clearPendingTimer(waiting: PendingReply): void {
  if (waiting.timer !== null) {
    clearTimeout(waiting.timer);
    waiting.timer = null;
  }
}

function ignoreError(): void {}
