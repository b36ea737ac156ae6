/**
 * One SMTP conversation with a recipient's mail server, held the way a
 * careful MTA would hold it, except that it never sends a message: banner,
 * EHLO (HELO fallback), STARTTLS when offered, MAIL FROM, RCPT TO, RSET,
 * QUIT. Never DATA, AUTH, VRFY or EXPN.
 *
 * Every command queues the wait for its own reply on the reply channel, in
 * order, so a reply is always matched to the command that asked for it. The
 * session reports replies; it does not judge them (see the reply classifier
 * for that).
 */
import type { Duplex } from 'node:stream';
import { buildCommandLine } from './build-command-line.js';
import { connectSocket } from './connect-socket.js';
import { isPositive, ReplyChannel } from './reply-channel.js';
import { secureSocket } from './secure-socket.js';
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
  private greetingMs = 0;
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

  /**
   * Milliseconds the last EHLO (or HELO) took to be answered: about one
   * network round trip, as servers answer it without lookups.
   */
  get greetingRoundTripMs(): number {
    return this.greetingMs;
  }

  get commandsSent(): number {
    return this.sent;
  }

  /** Connects, reads the banner, greets, and upgrades to TLS when offered. */
  static async open(options: SmtpSessionOptions): Promise<OpenResult> {
    const settings = resolveSettings(options);

    const connected = await connectSocket({
      opener: settings.opener,
      target: settings.target,
      timeoutMs: settings.timeouts.connectMs,
      signal: settings.signal,
    });
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
    return this.rcptOneByOne(lines);
  }

  /**
   * The session's last RCPTs. With PIPELINING, QUIT goes in the same write
   * (RFC 2920 3.1 lets QUIT end a group), so the session ends with the
   * round trip that answers them; otherwise QUIT follows the last reply.
   * The session is closed afterwards either way.
   */
  async rcptToManyThenQuit(recipients: string[]): Promise<StepResult[]> {
    if (!this.extensionSet.has('PIPELINING')) {
      const results = await this.rcptToMany(recipients);
      await this.quit();
      return results;
    }

    const lines = recipients.map((recipient) =>
      buildCommandLine({ verb: 'RCPT TO', forwardPath: recipient }),
    );
    const commandMs = this.settings.timeouts.commandMs;
    const replies = lines.map(() => this.channel.expect('rcpt', commandMs));
    const quitReply = this.channel.expect('mail', Math.min(commandMs, QUIT_REPLY_TIMEOUT_MS));
    if (!this.channel.hasFailed) {
      this.channel.write([...lines, buildCommandLine({ verb: 'QUIT' })]);
      this.sent += lines.length + 1;
    }

    const results = await Promise.all(replies);
    await quitReply;
    this.close();
    return results;
  }

  private async rcptOneByOne(lines: string[]): Promise<StepResult[]> {
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
    const ehlo = await this.timedGreeting(this.settings.ehloLine);
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
    const helo = await this.timedGreeting(this.settings.heloLine);
    if (!helo.ok) {
      return failedAt(helo.failure);
    }
    return isPositive(helo.reply) ? helo : refusedAt('ehlo', helo.reply);
  }

  /** EHLO or HELO, remembering how long the answer took. */
  private async timedGreeting(line: string): Promise<StepResult> {
    const sentAt = performance.now();
    const reply = await this.exchange('ehlo', line);
    this.greetingMs = performance.now() - sentAt;
    return reply;
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

    const secured = await secureSocket(this.channel.currentSocket, {
      host: this.settings.target.host,
      rejectUnauthorized: this.settings.rejectUnauthorized,
      timeoutMs: this.settings.timeouts.tlsMs,
      signal: this.settings.signal,
    });
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
