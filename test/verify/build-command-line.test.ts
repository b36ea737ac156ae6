import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { buildCommandLine } from '../../src/verify/build-command-line.js';
import type { SmtpCommand } from '../../src/verify/build-command-line.js';

describe('buildCommandLine', () => {
  it.each<[SmtpCommand, string]>([
    [{ verb: 'EHLO', domain: 'verifier.example.test' }, 'EHLO verifier.example.test\r\n'],
    [{ verb: 'HELO', domain: 'verifier.example.test' }, 'HELO verifier.example.test\r\n'],
    [
      { verb: 'MAIL FROM', reversePath: 'probe@example.test' },
      'MAIL FROM:<probe@example.test>\r\n',
    ],
    [{ verb: 'MAIL FROM', reversePath: '' }, 'MAIL FROM:<>\r\n'],
    [
      { verb: 'MAIL FROM', reversePath: 'pröbe@example.test', smtputf8: true },
      'MAIL FROM:<pröbe@example.test> SMTPUTF8\r\n',
    ],
    [{ verb: 'RCPT TO', forwardPath: 'ann@example.test' }, 'RCPT TO:<ann@example.test>\r\n'],
    [{ verb: 'STARTTLS' }, 'STARTTLS\r\n'],
    [{ verb: 'RSET' }, 'RSET\r\n'],
    [{ verb: 'QUIT' }, 'QUIT\r\n'],
  ])('builds %j as one CRLF-terminated line', (command, line) => {
    expect(buildCommandLine(command)).toBe(line);
  });

  it.each<[string, SmtpCommand]>([
    ['a CR LF in a recipient', { verb: 'RCPT TO', forwardPath: 'a@b.test>\r\nDATA' }],
    ['a bare LF in a sender', { verb: 'MAIL FROM', reversePath: 'x\ny@example.test' }],
    ['a NUL', { verb: 'RCPT TO', forwardPath: 'nul\u0000@example.test' }],
    ['a C1 control (NEL)', { verb: 'RCPT TO', forwardPath: 'nel\u0085@example.test' }],
    ['a lone surrogate', { verb: 'MAIL FROM', reversePath: 'lone\ud800@example.test' }],
    ['an angle bracket', { verb: 'RCPT TO', forwardPath: 'a@b.test> SIZE=1' }],
    ['an empty recipient', { verb: 'RCPT TO', forwardPath: '' }],
    ['a HELO name with a space', { verb: 'EHLO', domain: 'verifier example.test' }],
    ['an empty HELO name', { verb: 'HELO', domain: '' }],
  ])('throws for %s', (_, command) => {
    expect(() => buildCommandLine(command)).toThrow(Error);
  });

  it('refuses a line longer than 512 octets, CRLF included (RFC 5321 4.5.3.1.4)', () => {
    // "RCPT TO:<" + ">" + CRLF is 12 octets.
    const fits = `${'a'.repeat(493)}@b.test`;
    const tooLong = `${'a'.repeat(494)}@b.test`;

    expect(Buffer.byteLength(buildCommandLine({ verb: 'RCPT TO', forwardPath: fits }))).toBe(512);
    expect(() => buildCommandLine({ verb: 'RCPT TO', forwardPath: tooLong })).toThrow(/512/);
  });

  it('counts octets, not characters, against the limit', () => {
    const twoOctetChars = `${'é'.repeat(250)}@b.test`;

    expect(() => buildCommandLine({ verb: 'RCPT TO', forwardPath: twoOctetChars })).toThrow(/512/);
  });

  it('never returns a line with a CR or LF before its end, whatever the recipient', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (recipient) => {
        let line: string;
        try {
          line = buildCommandLine({ verb: 'RCPT TO', forwardPath: recipient });
        } catch {
          return;
        }
        expect(line.endsWith('\r\n')).toBe(true);
        expect(line.slice(0, -2)).not.toMatch(/[\r\n]/);
        expect(line).toBe(`RCPT TO:<${recipient}>\r\n`);
      }),
      { numRuns: 300 },
    );
  });
});
