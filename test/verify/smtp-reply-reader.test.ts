import { describe, expect, it } from 'vitest';

import { SmtpReplyReader } from '../../src/verify/smtp-reply-reader.js';

function readAll(text: string, reader = new SmtpReplyReader()) {
  return reader.push(Buffer.from(text, 'utf8'));
}

describe('SmtpReplyReader', () => {
  it('reads a one-line reply with its enhanced status code', () => {
    const output = readAll('550 5.1.1 <nobody@example.com>: Recipient address rejected\r\n');

    expect(output.error).toBeNull();
    expect(output.replies.map((received) => received.reply)).toEqual([
      {
        code: 550,
        enhancedCode: '5.1.1',
        text: '<nobody@example.com>: Recipient address rejected',
      },
    ]);
  });

  it('joins the lines of a multi-line reply and keeps the raw lines for transcripts', () => {
    // Gmail's answer for an unknown mailbox, as it arrives.
    const output = readAll(
      '550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n' +
        "550-5.1.1 double-checking the recipient's email address for typos or\r\n" +
        '550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser\r\n',
    );

    const [received] = output.replies;
    expect(received?.reply.code).toBe(550);
    expect(received?.reply.enhancedCode).toBe('5.1.1');
    expect(received?.reply.text).toBe(
      'The email account that you tried to reach does not exist. Please try\n' +
        "double-checking the recipient's email address for typos or\n" +
        'unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser',
    );
    expect(received?.lines).toHaveLength(3);
    expect(received?.lines[0]).toMatch(/^550-5\.1\.1 The email/);
  });

  it('reads an EHLO reply line by line', () => {
    const output = readAll(
      '250-mx.example.com at your service\r\n250-SIZE 35882577\r\n250-PIPELINING\r\n' +
        '250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n',
    );

    expect(output.replies[0]?.reply.text.split('\n')).toEqual([
      'mx.example.com at your service',
      'SIZE 35882577',
      'PIPELINING',
      'ENHANCEDSTATUSCODES',
      'SMTPUTF8',
    ]);
    expect(output.replies[0]?.reply.enhancedCode).toBeNull();
  });

  it('returns several replies from one chunk, in order', () => {
    const output = readAll('250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n');

    expect(output.replies.map((received) => received.reply.code)).toEqual([250, 250, 550]);
    expect(output.replies.map((received) => received.reply.enhancedCode)).toEqual([
      '2.1.0',
      '2.1.5',
      '5.1.1',
    ]);
  });

  it('accepts a bare code as the last line', () => {
    const output = readAll('250-first\r\n250\r\n');

    expect(output.error).toBeNull();
    expect(output.replies[0]?.reply).toEqual({ code: 250, enhancedCode: null, text: 'first\n' });
  });

  it('accepts LF-only line ends', () => {
    const output = readAll('220-mx.example.com\n220 ESMTP ready\n');

    expect(output.replies[0]?.reply.text).toBe('mx.example.com\nESMTP ready');
  });

  it('tolerates a missing space after the code', () => {
    const output = readAll('250OK\r\n');

    expect(output.error).toBeNull();
    expect(output.replies[0]?.reply).toEqual({ code: 250, enhancedCode: null, text: 'OK' });
  });

  it('ignores an enhanced code whose class disagrees with the reply code', () => {
    const output = readAll('250 5.1.1 looks like a status but is not\r\n');

    expect(output.replies[0]?.reply.enhancedCode).toBeNull();
    expect(output.replies[0]?.reply.text).toBe('5.1.1 looks like a status but is not');
  });

  it('reads an enhanced code with multi-digit subject and detail', () => {
    const output = readAll('421 4.7.28 Gmail has detected an unusual rate\r\n');

    expect(output.replies[0]?.reply.enhancedCode).toBe('4.7.28');
  });

  it('does not take a version number for an enhanced code', () => {
    const output = readAll('220 2.0.0.1 banner\r\n');

    expect(output.replies[0]?.reply.enhancedCode).toBeNull();
  });

  it('assembles a reply from one-byte chunks', () => {
    const reader = new SmtpReplyReader();
    const bytes = Buffer.from('250-mx.example.com\r\n250 PIPELINING\r\n');
    const replies = [];

    for (const byte of bytes) {
      const output = reader.push(Buffer.from([byte]));
      expect(output.error).toBeNull();
      replies.push(...output.replies);
    }

    expect(replies.map((received) => received.reply.text)).toEqual(['mx.example.com\nPIPELINING']);
    expect(reader.hasPartialReply).toBe(false);
  });

  it('keeps a multi-byte UTF-8 character split across chunks intact', () => {
    const reader = new SmtpReplyReader();
    const bytes = Buffer.from('550 5.1.1 Empfänger unbekannt\r\n');
    const split = bytes.indexOf(0xc3) + 1;

    expect(reader.push(bytes.subarray(0, split)).replies).toEqual([]);
    const output = reader.push(bytes.subarray(split));

    expect(output.replies[0]?.reply.text).toBe('Empfänger unbekannt');
  });

  it('reports a partial reply while lines of it are outstanding', () => {
    const reader = new SmtpReplyReader();

    reader.push(Buffer.from('250-first line\r\n'));
    expect(reader.hasPartialReply).toBe(true);
    reader.push(Buffer.from('250 last'));
    expect(reader.hasPartialReply).toBe(true);
    reader.push(Buffer.from('\r\n'));
    expect(reader.hasPartialReply).toBe(false);
  });

  it('fails a line longer than maxLineBytes without waiting for its end', () => {
    const reader = new SmtpReplyReader({ maxLineBytes: 100 });

    const output = reader.push(Buffer.from(`250 ${'x'.repeat(200)}`));

    expect(output.error).toBe('reply line longer than 100 bytes');
    expect(output.replies).toEqual([]);
  });

  it('fails on the first chunk of a 10 MB line, however the bytes keep coming', () => {
    const reader = new SmtpReplyReader();
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let chunksRead = 0;

    for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
      chunksRead += 1;
      if (reader.push(chunk).error !== null) {
        break;
      }
    }

    expect(chunksRead).toBe(1);
  });

  it('fails a line split across chunks once it passes the limit', () => {
    const reader = new SmtpReplyReader({ maxLineBytes: 10 });

    expect(reader.push(Buffer.from('250 abcd')).error).toBeNull();
    expect(reader.push(Buffer.from('efgh')).error).toBe('reply line longer than 10 bytes');
  });

  it('accepts a line of exactly maxLineBytes with its CRLF', () => {
    const reader = new SmtpReplyReader({ maxLineBytes: 10 });

    const output = reader.push(Buffer.from('250 abcdef\r\n'));

    expect(output.error).toBeNull();
    expect(output.replies[0]?.reply.text).toBe('abcdef');
  });

  it('fails a reply with more than maxLines lines before it ends', () => {
    const reader = new SmtpReplyReader({ maxLines: 5 });

    const output = reader.push(Buffer.from('250-line\r\n'.repeat(6)));

    expect(output.error).toBe('reply longer than 5 lines');
  });

  it('accepts a reply of exactly maxLines lines', () => {
    const reader = new SmtpReplyReader({ maxLines: 3 });

    const output = reader.push(Buffer.from('250-a\r\n250-b\r\n250 c\r\n'));

    expect(output.error).toBeNull();
    expect(output.replies[0]?.lines).toHaveLength(3);
  });

  it('fails an endless multi-line reply arriving in many chunks', () => {
    const reader = new SmtpReplyReader();
    let pushes = 0;
    let error: string | null = null;

    while (error === null && pushes < 10_000) {
      pushes += 1;
      error = reader.push(Buffer.from('250-more to come\r\n')).error;
    }

    expect(error).toBe('reply longer than 100 lines');
    expect(pushes).toBe(100);
  });

  it.each([
    ['text without a code', 'hello there\r\n'],
    ['a 1xx code, which SMTP never uses', '150 preliminary\r\n'],
    ['a 6xx code', '600 nonsense\r\n'],
    ['a two-digit code', '25 OK\r\n'],
    ['an empty line', '\r\n'],
    ['a TLS record where text was expected', '\x16\x03\x01\x02\x00\r\n'],
  ])('fails on %s', (_name, text) => {
    const output = readAll(text);

    expect(output.error).toMatch(/^malformed reply line/);
  });

  it('fails when the lines of one reply carry different codes', () => {
    const output = readAll('250-first\r\n550 second\r\n');

    expect(output.error).toBe('reply lines carry different codes: 250 and 550');
    expect(output.replies).toEqual([]);
  });

  it('returns the replies completed before an error in the same chunk', () => {
    const output = readAll('250 fine\r\ngarbage\r\n');

    expect(output.replies.map((received) => received.reply.code)).toEqual([250]);
    expect(output.error).toMatch(/^malformed reply line: "garbage"/);
  });

  it('stays failed after an error', () => {
    const reader = new SmtpReplyReader();
    reader.push(Buffer.from('nonsense\r\n'));

    const output = reader.push(Buffer.from('250 OK\r\n'));

    expect(output.replies).toEqual([]);
    expect(output.error).toMatch(/^malformed reply line/);
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new SmtpReplyReader({ maxLineBytes: 0 })).toThrow(RangeError);
    expect(() => new SmtpReplyReader({ maxLines: 1.5 })).toThrow(RangeError);
  });
});
