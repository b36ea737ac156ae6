/**
 * Turns the bytes a mail server sends into whole SMTP replies, one chunk at a
 * time, holding at most one line and one reply's worth of lines in memory.
 *
 * Grammar, RFC 5321 4.2: every line starts with the same three-digit code;
 * "code-text" continues the reply, "code SP text" or a bare "code" ends it.
 */
import type { SmtpReply } from './types.js';

/**
 * RFC 5321 4.5.3.1.5 allows 512 octets per reply line, but real servers
 * exceed it (long multi-line EHLO answers, verbose policy texts), so the
 * default leaves room while still refusing a megabyte-long "line".
 */
export const DEFAULT_MAX_LINE_BYTES = 2048;

/** Far more than any real EHLO answer (a dozen lines) or policy text. */
export const DEFAULT_MAX_LINES = 100;

export interface SmtpReplyReaderOptions {
  /** Longest accepted line, without its line end. */
  maxLineBytes?: number;
  /** Most lines accepted in one reply. */
  maxLines?: number;
}

export interface ReceivedReply {
  reply: SmtpReply;
  /** The lines as received, without line ends, for transcripts. */
  lines: string[];
}

export interface ReaderOutput {
  /** Replies completed by this chunk, in arrival order. */
  replies: ReceivedReply[];
  /** Set once the peer broke the grammar or a limit; the reader then stays failed. */
  error: string | null;
}

interface ReplyLine {
  code: number;
  isLast: boolean;
  text: string;
}

const LF = 0x0a;
const CR = 0x0d;

// RFC 5321 4.2: the first digit says success (2), intermediate (3),
// transient (4) or permanent (5) failure; 1yz is never used in SMTP.
const REPLY_CODE = /^[2-5][0-9]{2}$/;

// RFC 3463 2: class.subject.detail, subject and detail 1 to 3 digits,
// followed by a space or the end of the text.
const ENHANCED_CODE = /^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=[ \t]|$)/;

export class SmtpReplyReader {
  private readonly maxLineBytes: number;
  private readonly maxLines: number;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lines: ReplyLine[] = [];
  private rawLines: string[] = [];
  private error: string | null = null;

  constructor(options: SmtpReplyReaderOptions = {}) {
    this.maxLineBytes = requirePositiveInteger(
      'maxLineBytes',
      options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
    );
    this.maxLines = requirePositiveInteger('maxLines', options.maxLines ?? DEFAULT_MAX_LINES);
  }

  /** True while bytes or lines of an unfinished reply are held. */
  get hasPartialReply(): boolean {
    return this.partialBytes > 0 || this.lines.length > 0;
  }

  push(chunk: Uint8Array): ReaderOutput {
    const replies: ReceivedReply[] = [];
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;

    // Each pass consumes at least one byte of the chunk.
    while (this.error === null && start < bytes.length) {
      const end = bytes.indexOf(LF, start);
      if (end === -1) {
        this.keepPartialLine(bytes.subarray(start));
        break;
      }

      const line = this.completeLine(bytes.subarray(start, end));
      start = end + 1;
      const reply = line === null ? null : this.acceptLine(line);
      if (reply !== null) {
        replies.push(reply);
      }
    }

    return { replies, error: this.error };
  }

  private keepPartialLine(bytes: Buffer): void {
    this.partialBytes += bytes.length;

    // One extra byte for a CR whose LF has not arrived yet.
    if (this.partialBytes > this.maxLineBytes + 1) {
      this.fail(`reply line longer than ${this.maxLineBytes} bytes`);
      return;
    }

    // A copy, so a small tail does not pin the socket's whole chunk.
    this.partial.push(Buffer.from(bytes));
  }

  private completeLine(tail: Buffer): string | null {
    let line = this.partial.length === 0 ? tail : Buffer.concat([...this.partial, tail]);
    this.partial = [];
    this.partialBytes = 0;

    // LF alone is accepted as a line end: some servers and proxies send it.
    if (line.length > 0 && line[line.length - 1] === CR) {
      line = line.subarray(0, line.length - 1);
    }
    if (line.length > this.maxLineBytes) {
      this.fail(`reply line longer than ${this.maxLineBytes} bytes`);
      return null;
    }

    return line.toString('utf8');
  }

  private acceptLine(raw: string): ReceivedReply | null {
    const line = parseLine(raw);
    if (line === null) {
      this.fail(`malformed reply line: ${quote(raw)}`);
      return null;
    }

    const first = this.lines[0];
    if (first !== undefined && first.code !== line.code) {
      this.fail(`reply lines carry different codes: ${first.code} and ${line.code}`);
      return null;
    }

    this.lines.push(line);
    this.rawLines.push(raw);
    if (line.isLast) {
      return this.finishReply();
    }
    if (this.lines.length >= this.maxLines) {
      this.fail(`reply longer than ${this.maxLines} lines`);
    }
    return null;
  }

  private finishReply(): ReceivedReply {
    const lines = this.lines;
    const rawLines = this.rawLines;
    this.lines = [];
    this.rawLines = [];

    const code = lines[0]?.code ?? 0;
    const enhancedCode = readEnhancedCode(code, lines[0]?.text ?? '');
    const text = lines.map((line) => stripEnhancedCode(line.text, enhancedCode)).join('\n');

    return { reply: { code, enhancedCode, text }, lines: rawLines };
  }

  private fail(message: string): void {
    this.error = message;
    this.partial = [];
    this.partialBytes = 0;
    this.lines = [];
    this.rawLines = [];
  }
}

function parseLine(raw: string): ReplyLine | null {
  const digits = raw.slice(0, 3);
  if (!REPLY_CODE.test(digits)) {
    return null;
  }

  const code = Number(digits);
  const separator = raw.charAt(3);
  if (separator === '-') {
    return { code, isLast: false, text: raw.slice(4) };
  }
  if (separator === ' ') {
    return { code, isLast: true, text: raw.slice(4) };
  }

  // A bare "250" is allowed (RFC 5321 4.2); "250OK" without the space is
  // tolerated, as lenient MTAs do.
  return { code, isLast: true, text: raw.slice(3) };
}

function readEnhancedCode(code: number, text: string): string | null {
  const match = ENHANCED_CODE.exec(text);
  if (match === null) {
    return null;
  }

  // RFC 3463 3: the class must agree with the reply code's first digit;
  // "250 5.1.1" is someone else's number in the text, not a status.
  const replyClass = String(code).charAt(0);
  return match[1] === replyClass ? match[0] : null;
}

function stripEnhancedCode(text: string, enhancedCode: string | null): string {
  if (enhancedCode === null || !text.startsWith(enhancedCode)) {
    return text;
  }

  const rest = text.slice(enhancedCode.length);
  return rest === '' || rest.startsWith(' ') || rest.startsWith('\t') ? rest.trimStart() : text;
}

function quote(raw: string): string {
  const shown = raw.length > 60 ? `${raw.slice(0, 60)}...` : raw;
  return JSON.stringify(shown);
}

function requirePositiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
