import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { REPLY_RULES, classifyReply } from '../../src/verify/classify-reply.js';
import type { ReplyStage } from '../../src/verify/classify-reply.js';
import { REASONS } from '../../src/verify/types.js';
import type { SmtpReply } from '../../src/verify/types.js';
import { SMTP_REPLIES } from '../fixtures/smtp-replies.js';

const STAGES: readonly ReplyStage[] = ['connect', 'banner', 'ehlo', 'mail', 'rcpt'];
const BEFORE_RCPT: readonly ReplyStage[] = ['connect', 'banner', 'ehlo', 'mail'];

const REPLY_LINE = /^(\d{3})(?:([ -])(.*))?$/s;
const ENHANCED_CODE = /^([245])\.\d{1,3}\.\d{1,3}(?= |$)/;

/**
 * The wire form to an SmtpReply, as RFC 5321 4.2 and RFC 3463 describe it:
 * the code from the first line, the enhanced code when the first line's text
 * starts with one of the same class, each line's text without either.
 */
function parseReply(raw: string): SmtpReply {
  const lines = raw.split('\r\n').map((line) => {
    const match = REPLY_LINE.exec(line);
    if (match === null) throw new Error(`not an SMTP reply line: ${JSON.stringify(line)}`);
    return { code: Number(match[1]), text: match[3] ?? '' };
  });

  const first = lines[0];
  if (first === undefined) throw new Error('empty reply');
  const enhanced = ENHANCED_CODE.exec(first.text);
  const hasSameClass = enhanced?.[1] === String(first.code).charAt(0);
  const enhancedCode = enhanced !== null && hasSameClass ? enhanced[0] : null;

  const texts = lines.map(({ text }) =>
    enhancedCode !== null && text.startsWith(enhancedCode)
      ? text.slice(enhancedCode.length).replace(/^ /, '')
      : text,
  );
  return { code: first.code, enhancedCode, text: texts.join('\n') };
}

function describeRaw(raw: string): string {
  const oneLine = raw.split('\r\n').join(' | ');
  return oneLine.length > 110 ? `${oneLine.slice(0, 107)}...` : oneLine;
}

describe('the test parser', () => {
  it('splits a multi-line Gmail reply into code, enhanced code and joined text', () => {
    const reply = parseReply('550-5.1.1 The account\r\n550-5.1.1 does not\r\n550 5.1.1 exist');

    expect(reply).toEqual({
      code: 550,
      enhancedCode: '5.1.1',
      text: 'The account\ndoes not\nexist',
    });
  });

  it('leaves an enhanced code of another class in the text', () => {
    expect(parseReply('250 5.1.1 odd')).toEqual({
      code: 250,
      enhancedCode: null,
      text: '5.1.1 odd',
    });
  });
});

describe('classifyReply on real server replies', () => {
  for (const fixture of SMTP_REPLIES) {
    const { stage, raw, expect: wanted } = fixture;
    const name = `${stage} ${describeRaw(raw)} -> ${wanted.verdict} ${wanted.reason}`;

    it(`${name} (${fixture.source})`, () => {
      const result = classifyReply(stage, parseReply(raw));

      expect({ verdict: result.verdict, reason: result.reason }).toEqual({
        verdict: wanted.verdict,
        reason: wanted.reason,
      });
      if (wanted.retry !== undefined) expect(result.retry).toBe(wanted.retry);
    });
  }
});

describe('the rule table', () => {
  it('gives every rule its own id', () => {
    const ids = REPLY_RULES.map((rule) => rule.id);

    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has every rule decide at least one real reply', () => {
    const hit = new Set(
      SMTP_REPLIES.map(({ stage, raw }) => classifyReply(stage, parseReply(raw)).rule),
    );
    const unhit = REPLY_RULES.map((rule) => rule.id).filter((id) => !hit.has(id));

    expect(unhit).toEqual([]);
  });

  it('holds replies from at least 12 providers and mail servers', () => {
    const sources = new Set(SMTP_REPLIES.map((fixture) => fixture.source));
    sources.delete('rfc');
    sources.delete('other');

    expect(sources.size).toBeGreaterThanOrEqual(12);
    expect(SMTP_REPLIES.length).toBeGreaterThanOrEqual(60);
  });
});

describe('blocks that look like mailbox answers', () => {
  it('returns mailbox_not_found for 550 5.1.1 whose "blocked" does not name the sender', () => {
    const reply = {
      code: 550,
      enhancedCode: '5.1.1',
      text: '<someone@example.com>: Recipient address rejected: blocked',
    };

    expect(classifyReply('rcpt', reply)).toMatchObject({
      verdict: 'undeliverable',
      reason: 'mailbox_not_found',
    });
  });

  it('returns blocked for 550 5.1.1 when the text says the client is blocklisted', () => {
    const reply = {
      code: 550,
      enhancedCode: '5.1.1',
      text: 'Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
    };

    expect(classifyReply('rcpt', reply)).toMatchObject({ verdict: 'unknown', reason: 'blocked' });
  });

  it('returns blocked for 550 5.1.1 pointing at a Spamhaus lookup of the sending IP', () => {
    const reply = {
      code: 550,
      enhancedCode: '5.1.1',
      text: 'Blocked - see https://www.spamhaus.org/query/ip/192.0.2.1',
    };

    expect(classifyReply('rcpt', reply).reason).toBe('blocked');
  });

  it('returns blocked when a sender verification fails with "user unknown"', () => {
    const reply = { code: 550, enhancedCode: null, text: 'Sender verify failed, user unknown' };

    expect(classifyReply('rcpt', reply).reason).toBe('blocked');
  });
});

describe('reply code first', () => {
  it('trusts a 250 over an enhanced code of another class', () => {
    const reply = { code: 250, enhancedCode: '5.1.1', text: 'User unknown' };

    expect(classifyReply('rcpt', reply)).toMatchObject({ verdict: 'deliverable' });
  });

  it('ignores a 5.x.x code in the text of a 4xx reply', () => {
    const reply = { code: 450, enhancedCode: null, text: 'Requested action failed (#5.1.1)' };

    expect(classifyReply('rcpt', reply)).toMatchObject({
      verdict: 'unknown',
      reason: 'temporary_failure',
      rule: 'temporary-4xx',
    });
  });

  it('reads an enhanced code that follows a tag when the first line had none', () => {
    const reply = { code: 550, enhancedCode: null, text: 'cuda_nsu 5.1.1 <a@example.com>' };

    expect(classifyReply('rcpt', reply).rule).toBe('rcpt-mailbox-unknown-code');
  });

  it('does not take the first three parts of an IP address for an enhanced code', () => {
    const reply = { code: 550, enhancedCode: null, text: 'Go to 5.2.2.7 for help' };

    expect(classifyReply('rcpt', reply).reason).not.toBe('mailbox_full');
  });

  it('returns mailbox_not_found for a bare 550 with no text', () => {
    const reply = { code: 550, enhancedCode: null, text: '' };

    expect(classifyReply('rcpt', reply).rule).toBe('rcpt-mailbox-unavailable');
  });

  it('returns protocol_error for a code that is not an integer', () => {
    const reply = { code: 250.5, enhancedCode: null, text: 'Ok' };

    expect(classifyReply('rcpt', reply).reason).toBe('protocol_error');
  });
});

describe('retry advice', () => {
  it('sends a 421 at the greeting on to the next mail server', () => {
    const reply = { code: 421, enhancedCode: null, text: 'Service not available' };

    expect(classifyReply('connect', reply).retry).toBe('next_server');
    expect(classifyReply('banner', reply).retry).toBe('next_server');
  });

  it('advises later for a 421 after the greeting', () => {
    const reply = { code: 421, enhancedCode: null, text: 'Service not available' };

    expect(classifyReply('ehlo', reply).retry).toBe('later');
    expect(classifyReply('rcpt', reply).retry).toBe('later');
  });

  it('advises none for a 5xx refusal at MAIL FROM', () => {
    const reply = { code: 553, enhancedCode: null, text: 'Not accepted' };

    expect(classifyReply('mail', reply)).toMatchObject({ reason: 'blocked', retry: 'none' });
  });

  it('advises a new session for 552 too many recipients (RFC 5321 4.5.3.1.10)', () => {
    const reply = { code: 552, enhancedCode: '5.5.3', text: 'Too many recipients' };

    expect(classifyReply('rcpt', reply)).toMatchObject({
      verdict: 'unknown',
      retry: 'new_session',
    });
  });
});

describe('bounds', () => {
  it('does not read past the first 4096 characters of the text', () => {
    const reply = { code: 550, enhancedCode: null, text: `${'x'.repeat(5000)} spamhaus` };

    expect(classifyReply('rcpt', reply).rule).toBe('rcpt-mailbox-unavailable');
  });

  it('classifies a megabyte of text without trouble', () => {
    const reply = { code: 554, enhancedCode: null, text: 'a '.repeat(500_000) };

    expect(classifyReply('rcpt', reply).reason).toBe('rejected');
  });
});

describe('properties over any reply', () => {
  const fixtureReplies = SMTP_REPLIES.map(({ raw }) => parseReply(raw));
  const texts = fixtureReplies.map((reply) => reply.text);
  const codes = fixtureReplies.map((reply) => reply.code);
  const enhancedCodes = fixtureReplies.flatMap((reply) =>
    reply.enhancedCode === null ? [] : [reply.enhancedCode],
  );

  const stage = fc.constantFrom(...STAGES);
  const code = fc.oneof(fc.integer({ min: -10, max: 1000 }), fc.constantFrom(...codes));
  const enhancedCode = fc.option(
    fc.oneof(
      fc
        .tuple(fc.constantFrom(2, 4, 5), fc.nat(999), fc.nat(999))
        .map(([klass, subject, detail]) => `${klass}.${subject}.${detail}`),
      fc.constantFrom(...enhancedCodes),
      fc.string({ maxLength: 8 }),
    ),
    { nil: null },
  );
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.constantFrom(...texts),
    fc
      .tuple(fc.constantFrom(...texts), fc.constantFrom(...texts))
      .map(([first, second]) => `${first}\n${second}`),
  );
  const reply = fc.record({ code, enhancedCode, text });

  it('never calls a reply before RCPT undeliverable', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BEFORE_RCPT), reply, (at, answer) => {
        expect(classifyReply(at, answer).verdict).not.toBe('undeliverable');
      }),
      { numRuns: 3000 },
    );
  });

  it('never calls a 4xx reply undeliverable', () => {
    const transient = fc.record({ code: fc.integer({ min: 400, max: 499 }), enhancedCode, text });

    fc.assert(
      fc.property(stage, transient, (at, answer) => {
        expect(classifyReply(at, answer).verdict).not.toBe('undeliverable');
      }),
      { numRuns: 3000 },
    );
  });

  it('calls a reply deliverable only when RCPT got a 2xx', () => {
    fc.assert(
      fc.property(stage, reply, (at, answer) => {
        const isRcptSuccess = at === 'rcpt' && answer.code >= 200 && answer.code <= 299;
        if (classifyReply(at, answer).verdict === 'deliverable') {
          expect(isRcptSuccess).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('always answers with a known reason and a rule from the table', () => {
    const ruleIds = new Set(REPLY_RULES.map((rule) => rule.id));

    fc.assert(
      fc.property(stage, reply, (at, answer) => {
        const result = classifyReply(at, answer);

        expect(REASONS).toContain(result.reason);
        expect(ruleIds.has(result.rule)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
