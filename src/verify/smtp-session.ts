/**
 * One SMTP conversation with a recipient's mail server, held the way a
 * careful MTA would hold it, except that it never sends a message: banner,
 * EHLO (HELO fallback), STARTTLS when offered, MAIL FROM, RCPT TO, RSET,
 * QUIT. Never DATA, AUTH, VRFY or EXPN.
 *
 * Every command queues the wait for its own reply, in order, so a reply is
 * always matched to the command that asked for it. The session reports
 * replies; it does not judge them (see the reply classifier for that).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SmtpReplyReader } from './smtp-reply-reader.js';
import type { ReceivedReply } from './smtp-reply-reader.js';
import type { SmtpReply, SocketOpener, SocketTarget, Stage } from './types.js';

/** Waits for the TCP (or proxied) connection to the mail server. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Waits for the 220 greeting. RFC 5321 4.5.3.2.1 lets an MTA wait five
 * minutes; a verifier is not delivering mail and need not be that patient.
 */
export const DEFAULT_BANNER_TIMEOUT_MS = 30_000;

/** Waits for the reply to one command (EHLO, MAIL, RCPT, RSET). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** Waits for the TLS handshake after the server's go-ahead for STARTTLS. */
export const DEFAULT_TLS_TIMEOUT_MS = 10_000;

/** QUIT is a courtesy; its 221 is awaited at most this long. */
export const QUIT_REPLY_TIMEOUT_MS = 2_000;

/** Extra time the opener gets past its own timeout before it is given up on. */
const OPENER_GRACE_MS = 1_000;

// RFC 5321 4.5.3.1.4: a command line is at most 512 octets, CRLF included.
const MAX_COMMAND_LINE_BYTES = 512;

// Control characters (C0, DEL, C1), lone surrogates and angle brackets: none
// may reach the wire, so no argument can end a line or a path early.
const UNSAFE_ARGUMENT = /[\p{Cc}\p{Cs}<>]/u;

// RFC 5321 4.1.1.1: an EHLO keyword is a letter or digit, then those or "-".
const EHLO_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*/;

export interface SmtpSessionOptions {
  opener: SocketOpener;
  target: SocketTarget;
  heloName: string;
  timeouts?: { connectMs?: number; bannerMs?: number; commandMs?: number; tlsMs?: number };
  limits?: { maxLineBytes?: number; maxLines?: number };
  /** Default opportunistic: STARTTLS whenever the server offers it. */
  startTls?: 'opportunistic' | 'never';
  /** Default false: we only probe, and many MX certificates do not match their names. */
  tlsOptions?: { rejectUnauthorized?: boolean };
  /** Overall deadline: aborting closes the socket and the pending step fails with 'timeout'. */
  signal?: AbortSignal;
  onTranscript?: (direction: 'client' | 'server', line: string) => void;
}

export type SessionFailure = {
  kind: 'timeout' | 'connection_failed' | 'closed' | 'protocol_error' | 'tls_failed';
  stage: Stage;
  message: string;
  code?: string;
};

export type StepResult = { ok: true; reply: SmtpReply } | { ok: false; failure: SessionFailure };

export type OpenFailure = {
  ok: false;
  failure: SessionFailure;
  /** The server's refusal, when a reply (not the transport) ended the opening. */
  reply?: SmtpReply;
  stage: Stage;
};

export type OpenResult =
  { ok: true; session: SmtpSession; banner: SmtpReply; greeting: SmtpReply } | OpenFailure;

/** The only commands this client can put on the wire. */
export type SmtpCommand =
  | { verb: 'EHLO' | 'HELO'; domain: string }
  | { verb: 'MAIL FROM'; reversePath: string; smtputf8?: boolean }
  | { verb: 'RCPT TO'; forwardPath: string }
  | { verb: 'STARTTLS' | 'RSET' | 'QUIT' };

/**
 * Builds one command line, CRLF included. Throws on an argument that could
 * smuggle a line end, a control byte or an angle bracket: the syntax module
 * rejects such addresses first, so reaching here with one is a bug.
 */
export function buildCommandLine(command: SmtpCommand): string {
  const line = `${formatCommand(command)}\r\n`;

  if (Buffer.byteLength(line, 'utf8') > MAX_COMMAND_LINE_BYTES) {
    throw new Error(`${command.verb} command longer than ${MAX_COMMAND_LINE_BYTES} octets`);
  }
  return line;
}

function formatCommand(command: SmtpCommand): string {
  switch (command.verb) {
    case 'EHLO':
    case 'HELO':
      requireSafeArgument(command.verb, command.domain);
      if (command.domain === '' || /\s/.test(command.domain)) {
        throw new Error(`${command.verb} needs a domain without spaces`);
      }
      return `${command.verb} ${command.domain}`;
    case 'MAIL FROM': {
      requireSafeArgument(command.verb, command.reversePath);
      // RFC 6531 3.4: the SMTPUTF8 parameter marks a transaction with UTF-8 addresses.
      const parameter = command.smtputf8 === true ? ' SMTPUTF8' : '';
      return `MAIL FROM:<${command.reversePath}>${parameter}`;
    }
    case 'RCPT TO':
      requireSafeArgument(command.verb, command.forwardPath);
      if (command.forwardPath === '') {
        throw new Error('RCPT TO needs a recipient');
      }
      return `RCPT TO:<${command.forwardPath}>`;
    default:
      return command.verb;
  }
}

function requireSafeArgument(verb: string, argument: string): void {
  if (UNSAFE_ARGUMENT.test(argument)) {
    throw new Error(`${verb} argument holds a control character or angle bracket`);
  }
}

type Failure = Omit<SessionFailure, 'stage'>;

interface Settings {
  opener: SocketOpener;
  target: SocketTarget;
  ehloLine: string;
  heloLine: string;
  timeouts: { connectMs: number; bannerMs: number; commandMs: number; tlsMs: number };
  limits: { maxLineBytes?: number; maxLines?: number };
  wantsTls: boolean;
  rejectUnauthorized: boolean;
  signal: AbortSignal | undefined;
  onTranscript: SmtpSessionOptions['onTranscript'];
}

type Greeting = { ok: true; reply: SmtpReply } | OpenFailure;

export class SmtpSession {
  private readonly settings: Settings;
  private readonly channel: ReplyChannel;
  private extensionSet = new Set<string>();
  private isSecured = false;
  private sent = 0;
  private readonly onAbort = (): void => {
    this.channel.fail({ kind: 'timeout', message: 'aborted: the overall deadline passed' });
  };

  private constructor(socket: Duplex, settings: Settings) {
    this.settings = settings;
    this.channel = new ReplyChannel(socket, {
      limits: settings.limits,
      onTranscript: settings.onTranscript,
      onFailed: () => settings.signal?.removeEventListener('abort', this.onAbort),
    });

    settings.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (settings.signal?.aborted === true) {
      this.onAbort();
    }
  }

  /** Upper-case keywords from the last EHLO reply (empty after HELO). */
  get extensions(): ReadonlySet<string> {
    return this.extensionSet;
  }

  get isTls(): boolean {
    return this.isSecured;
  }

  get commandsSent(): number {
    return this.sent;
  }

  /** Connects, reads the banner, greets, and upgrades to TLS when offered. */
  static async open(options: SmtpSessionOptions): Promise<OpenResult> {
    const settings = resolveSettings(options);

    const connected = await connectSocket(settings);
    if (!connected.ok) {
      return { ok: false, failure: connected.failure, stage: 'connect' };
    }

    const session = new SmtpSession(connected.socket, settings);
    const opened = await session.start();
    if (!opened.ok) {
      await session.quit();
    }
    return opened;
  }

  /** "MAIL FROM:<sender>"; an empty sender is the null reverse-path "<>". */
  async mailFrom(sender: string, options: { smtputf8?: boolean } = {}): Promise<StepResult> {
    const smtputf8 = options.smtputf8 === true && this.extensionSet.has('SMTPUTF8');
    const line = buildCommandLine({ verb: 'MAIL FROM', reversePath: sender, smtputf8 });

    return this.exchange('mail', line);
  }

  async rcptTo(recipient: string): Promise<StepResult> {
    const line = buildCommandLine({ verb: 'RCPT TO', forwardPath: recipient });

    return this.exchange('rcpt', line);
  }

  /**
   * One RCPT per recipient, results in order. With PIPELINING (RFC 2920 3.1)
   * all are sent in one write and answered in one round trip; otherwise one
   * at a time. A transport failure fails every recipient not yet answered.
   */
  async rcptToMany(recipients: string[]): Promise<StepResult[]> {
    const lines = recipients.map((recipient) =>
      buildCommandLine({ verb: 'RCPT TO', forwardPath: recipient }),
    );

    if (this.extensionSet.has('PIPELINING')) {
      return Promise.all(this.send('rcpt', lines, this.settings.timeouts.commandMs));
    }

    const results: StepResult[] = [];
    for (const line of lines) {
      results.push(await this.exchange('rcpt', line));
    }
    return results;
  }

  /** Ends the mail transaction (RFC 5321 4.1.1.5) so another can start. */
  async rset(): Promise<StepResult> {
    return this.exchange('mail', buildCommandLine({ verb: 'RSET' }));
  }

  /** Sends QUIT, waits briefly for the 221, then closes. Never throws. */
  async quit(): Promise<void> {
    if (!this.channel.hasFailed) {
      const timeoutMs = Math.min(this.settings.timeouts.commandMs, QUIT_REPLY_TIMEOUT_MS);
      const [reply] = this.send('mail', [buildCommandLine({ verb: 'QUIT' })], timeoutMs);
      await reply;
    }

    this.close();
  }

  /** Destroys the socket; any step still waiting fails with 'closed'. */
  close(): void {
    this.channel.fail({ kind: 'closed', message: 'session closed by the client' });
  }

  private async start(): Promise<OpenResult> {
    const banner = await this.channel.expect('banner', this.settings.timeouts.bannerMs);
    if (!banner.ok) {
      return failedAt(banner.failure);
    }
    // RFC 5321 3.1: a 554 (or 421) greeting refuses the whole session.
    if (!isPositive(banner.reply)) {
      return refusedAt('banner', banner.reply);
    }

    let greeting = await this.greet();
    if (!greeting.ok) {
      return greeting;
    }

    if (this.settings.wantsTls && this.extensionSet.has('STARTTLS')) {
      const upgrade = await this.startTls();
      if (upgrade !== null) {
        return upgrade;
      }
      greeting = this.isSecured ? await this.greet() : greeting;
      if (!greeting.ok) {
        return greeting;
      }
    }

    return { ok: true, session: this, banner: banner.reply, greeting: greeting.reply };
  }

  /** EHLO, and HELO when EHLO is refused with 5xx (RFC 5321 4.1.4, 3.2). */
  private async greet(): Promise<Greeting> {
    const ehlo = await this.exchange('ehlo', this.settings.ehloLine);
    if (!ehlo.ok) {
      return failedAt(ehlo.failure);
    }
    if (isPositive(ehlo.reply)) {
      this.extensionSet = readExtensions(ehlo.reply);
      return ehlo;
    }
    if (ehlo.reply.code < 500) {
      return refusedAt('ehlo', ehlo.reply);
    }

    this.extensionSet = new Set();
    const helo = await this.exchange('ehlo', this.settings.heloLine);
    if (!helo.ok) {
      return failedAt(helo.failure);
    }
    return isPositive(helo.reply) ? helo : refusedAt('ehlo', helo.reply);
  }

  /**
   * RFC 3207. Returns null when the session may go on (over TLS, or in the
   * clear when the server declined with 454 or similar), a failure otherwise.
   */
  private async startTls(): Promise<OpenFailure | null> {
    const line = buildCommandLine({ verb: 'STARTTLS' });
    const [answer] = this.send('tls', [line], this.settings.timeouts.commandMs, true);
    const reply = await answer;
    if (reply === undefined || !reply.ok) {
      return failedAt(reply?.failure ?? this.channel.failureAt('tls'));
    }
    if (!isPositive(reply.reply)) {
      return null;
    }

    const secured = await secureSocket(this.channel.currentSocket, this.settings);
    if (!secured.ok) {
      this.channel.fail(secured.failure);
      return failedAt({ ...secured.failure, stage: 'tls' });
    }

    // RFC 3207 4.2: forget everything learned before TLS; EHLO comes again.
    this.channel.continueOver(secured.socket);
    this.isSecured = true;
    this.extensionSet = new Set();
    return null;
  }

  private async exchange(stage: Stage, line: string): Promise<StepResult> {
    const [reply] = this.send(stage, [line], this.settings.timeouts.commandMs);
    return reply ?? { ok: false, failure: this.channel.failureAt(stage) };
  }

  /** Queues the wait for each reply, then writes every line at once. */
  private send(
    stage: Stage,
    lines: string[],
    timeoutMs: number,
    handsOverToTls = false,
  ): Promise<StepResult>[] {
    const replies = lines.map(() => this.channel.expect(stage, timeoutMs, handsOverToTls));

    if (!this.channel.hasFailed) {
      this.channel.write(lines);
      this.sent += lines.length;
    }
    return replies;
  }
}

interface ChannelSettings {
  limits: { maxLineBytes?: number; maxLines?: number };
  onTranscript: SmtpSessionOptions['onTranscript'];
  onFailed: () => void;
}

interface PendingReply {
  stage: Stage;
  timeoutMs: number;
  handsOverToTls: boolean;
  resolve: (result: StepResult) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * The byte stream under a session: writes command lines, parses replies and
 * hands each to the oldest waiting command. Any transport trouble ends it
 * for good: the socket is destroyed and every wait, present or future, fails.
 */
class ReplyChannel {
  private socket: Duplex;
  private readonly sockets: Duplex[] = [];
  private reader: SmtpReplyReader;
  private readonly pending: PendingReply[] = [];
  private failure: Failure | null = null;
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
    const failure: Failure = { kind: 'closed', message: `connection error: ${error.message}` };
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

  fail(failure: Failure): void {
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

type Connected = { ok: true; socket: Duplex } | { ok: false; failure: SessionFailure };

/** Runs the opener under the connect timeout and the abort signal. */
function connectSocket(settings: Settings): Promise<Connected> {
  const { opener, target, timeouts, signal } = settings;
  if (signal?.aborted === true) {
    return Promise.resolve({ ok: false, failure: abortedAt('connect') });
  }

  // A synchronous throw here is a programming error and propagates.
  const dialing = opener(target, timeouts.connectMs);

  return new Promise((resolve) => {
    let isSettled = false;
    const settle = (outcome: Connected): void => {
      isSettled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => settle({ ok: false, failure: abortedAt('connect') });
    const timer = setTimeout(() => {
      const message = `opener gave no answer within ${timeouts.connectMs} ms`;
      settle({ ok: false, failure: { kind: 'timeout', stage: 'connect', message } });
    }, timeouts.connectMs + OPENER_GRACE_MS);
    signal?.addEventListener('abort', onAbort, { once: true });

    dialing.then(
      (socket) => {
        if (isSettled) {
          socket.destroy();
          return;
        }
        settle({ ok: true, socket });
      },
      (error: unknown) => {
        if (!isSettled) {
          settle({ ok: false, failure: connectFailure(error) });
        }
      },
    );
  });
}

type Secured = { ok: true; socket: tls.TLSSocket } | { ok: false; failure: Failure };

// TODO: Node's default floor is TLS 1.2, so a server that speaks only TLS
// 1.0 or 1.1 fails the handshake here; the caller's plain-text retry then
// probes it without TLS rather than over old TLS.
function secureSocket(socket: Duplex, settings: Settings): Promise<Secured> {
  const { signal, timeouts } = settings;
  const host = settings.target.host.replace(/\.$/, '');
  const secured = tls.connect({
    socket,
    // SNI carries host names only (RFC 6066 3), never address literals.
    servername: net.isIP(host) === 0 && host !== '' ? host : undefined,
    rejectUnauthorized: settings.rejectUnauthorized,
  });

  return new Promise((resolve) => {
    const settle = (outcome: Secured): void => {
      clearTimeout(timer);
      secured.off('secureConnect', onSecure);
      secured.off('error', onError);
      secured.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (!outcome.ok) {
        secured.on('error', ignoreError);
        secured.destroy();
      }
      resolve(outcome);
    };
    const onSecure = (): void => settle({ ok: true, socket: secured });
    const onError = (error: NodeJS.ErrnoException): void => {
      const failure: Failure = {
        kind: signal?.aborted === true ? 'timeout' : 'tls_failed',
        message: `TLS handshake failed: ${error.message}`,
      };
      settle({
        ok: false,
        failure: error.code === undefined ? failure : { ...failure, code: error.code },
      });
    };
    const onClose = (): void => {
      const message = 'connection closed during the TLS handshake';
      settle({
        ok: false,
        failure: { kind: signal?.aborted === true ? 'timeout' : 'tls_failed', message },
      });
    };
    const onAbort = (): void => {
      settle({
        ok: false,
        failure: { kind: 'timeout', message: 'aborted: the overall deadline passed' },
      });
    };
    const timer = setTimeout(() => {
      const message = `TLS handshake took longer than ${timeouts.tlsMs} ms`;
      settle({ ok: false, failure: { kind: 'tls_failed', message, code: 'ETIMEDOUT' } });
    }, timeouts.tlsMs);

    secured.once('secureConnect', onSecure);
    secured.once('error', onError);
    secured.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function resolveSettings(options: SmtpSessionOptions): Settings {
  const timeouts = {
    connectMs: options.timeouts?.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    bannerMs: options.timeouts?.bannerMs ?? DEFAULT_BANNER_TIMEOUT_MS,
    commandMs: options.timeouts?.commandMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    tlsMs: options.timeouts?.tlsMs ?? DEFAULT_TLS_TIMEOUT_MS,
  };
  for (const [name, value] of Object.entries(timeouts)) {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`timeouts.${name} must be a positive number, got ${value}`);
    }
  }

  return {
    opener: options.opener,
    target: options.target,
    ehloLine: buildCommandLine({ verb: 'EHLO', domain: options.heloName }),
    heloLine: buildCommandLine({ verb: 'HELO', domain: options.heloName }),
    timeouts,
    limits: options.limits ?? {},
    wantsTls: (options.startTls ?? 'opportunistic') === 'opportunistic',
    rejectUnauthorized: options.tlsOptions?.rejectUnauthorized ?? false,
    signal: options.signal,
    onTranscript: options.onTranscript,
  };
}

/** RFC 5321 4.1.1.1: the first line greets; each further line is one extension. */
function readExtensions(reply: SmtpReply): Set<string> {
  const keywords = new Set<string>();

  for (const line of reply.text.split('\n').slice(1)) {
    const keyword = EHLO_KEYWORD.exec(line.trim())?.[0];
    if (keyword !== undefined) {
      keywords.add(keyword.toUpperCase());
    }
  }
  return keywords;
}

/**
 * A reply nobody asked for means the server is out of step: any later reply
 * could be taken for the answer to the wrong command, so the session ends.
 * RFC 5321 3.8 lets a server announce an unrequested 421 before it closes.
 */
function unaskedReplyFailure(reply: SmtpReply): Failure {
  const message = `reply before any command was sent: ${reply.code} ${reply.text}`;
  return { kind: reply.code === 421 ? 'closed' : 'protocol_error', message };
}

function connectFailure(error: unknown): SessionFailure {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const kind = code === 'ETIMEDOUT' ? 'timeout' : 'connection_failed';

  return code === undefined
    ? { kind, stage: 'connect', message }
    : { kind, stage: 'connect', message, code };
}

function failedAt(failure: SessionFailure): OpenFailure {
  return { ok: false, failure, stage: failure.stage };
}

/**
 * A well-formed refusal (554 banner, refused EHLO and HELO): the server
 * turned the session down, which RFC 5321 3.1 calls refusing the connection.
 */
function refusedAt(stage: Stage, reply: SmtpReply): OpenFailure {
  const message = `server refused the session: ${reply.code} ${reply.text}`;
  return { ok: false, failure: { kind: 'connection_failed', stage, message }, reply, stage };
}

function abortedAt(stage: Stage): SessionFailure {
  return { kind: 'timeout', stage, message: 'aborted: the overall deadline passed' };
}

function isPositive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

function clearPendingTimer(waiting: PendingReply): void {
  if (waiting.timer !== null) {
    clearTimeout(waiting.timer);
    waiting.timer = null;
  }
}

function ignoreError(): void {}
