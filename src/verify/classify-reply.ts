/**
 * What a mail server's reply means for the mailbox: a verdict, a reason and
 * advice on retrying, read from an ordered table of rules.
 *
 * Order of evidence: the reply code first (RFC 5321 4.2), the enhanced
 * status code second (RFC 3463), the text last. The first rule that matches
 * decides, so specific rules come before general ones. A refusal aimed at
 * the sender (block lists, reverse DNS, SPF/DMARC, relaying, policy) says
 * nothing about the mailbox: it is unknown `blocked`, never undeliverable,
 * and the rules that recognise it run before every mailbox rule.
 */
import type { Reason, SmtpReply, Verdict } from './types.js';

export type ReplyStage = 'connect' | 'banner' | 'ehlo' | 'mail' | 'rcpt';

export type RetryAdvice = 'none' | 'greylist' | 'later' | 'new_session' | 'next_server';

export interface ReplyClass {
  verdict: Verdict;
  reason: Reason;
  retry: RetryAdvice;
  /** Id of the rule that matched, for evidence and tests. */
  rule: string;
}

/** "5xx" matches a class, "550" one code, "other" anything outside 200-599. */
export type CodePattern = '2xx' | '3xx' | '4xx' | '5xx' | 'other' | `${number}`;

export interface ReplyRule {
  readonly id: string;
  readonly stages: readonly ReplyStage[];
  readonly codes: readonly CodePattern[];
  /** Tested against the enhanced code, e.g. "5.1.1". */
  readonly enhanced?: RegExp;
  /** Tested against the text, whitespace collapsed to single spaces. */
  readonly text?: RegExp;
  readonly verdict: Verdict;
  readonly reason: Reason;
  /** When absent, the advice follows from the code and stage: see adviseRetry. */
  readonly retry?: RetryAdvice;
}

/**
 * Real policy texts run to a few hundred characters; the rest of a longer
 * reply adds nothing and would only make every pattern scan further.
 */
const MAX_TEXT_CHARS = 4096;

const ANY_STAGE: readonly ReplyStage[] = ['connect', 'banner', 'ehlo', 'mail', 'rcpt'];
const GREETING: readonly ReplyStage[] = ['connect', 'banner'];
const BEFORE_RCPT: readonly ReplyStage[] = ['connect', 'banner', 'ehlo', 'mail'];
const ENVELOPE: readonly ReplyStage[] = ['mail', 'rcpt'];
const RCPT: readonly ReplyStage[] = ['rcpt'];

const ACCEPTED = { verdict: 'deliverable', reason: 'accepted' } as const;
const NOT_FOUND = { verdict: 'undeliverable', reason: 'mailbox_not_found' } as const;
const DISABLED = { verdict: 'undeliverable', reason: 'mailbox_disabled' } as const;
const FULL = { verdict: 'risky', reason: 'mailbox_full' } as const;
const BLOCKED = { verdict: 'unknown', reason: 'blocked' } as const;
const GREYLISTED = { verdict: 'unknown', reason: 'greylisted', retry: 'greylist' } as const;
const TEMPORARY = { verdict: 'unknown', reason: 'temporary_failure' } as const;
const REJECTED = { verdict: 'unknown', reason: 'rejected' } as const;
const PROTOCOL_ERROR = { verdict: 'unknown', reason: 'protocol_error' } as const;
const UNCONFIRMED = { verdict: 'unknown', reason: 'accepted' } as const;
const BAD_SYNTAX = { verdict: 'undeliverable', reason: 'invalid_syntax' } as const;
const NO_MAIL_SERVER = { verdict: 'undeliverable', reason: 'no_mail_server' } as const;
const FAILURE: readonly CodePattern[] = ['4xx', '5xx'];

// TODO: the text patterns are English, with one French phrase; a reply worded
// in another language falls through to the code rules, so a localized "554
// user unknown" comes out unknown `rejected` instead of undeliverable.

/** One case-insensitive pattern from alternatives, each a regex source. */
function anyOf(...alternatives: string[]): RegExp {
  return new RegExp(alternatives.join('|'), 'i');
}

/** The sending IP or domain is on a DNS block list. */
const BLOCKLISTED = anyOf(
  'spamhaus',
  'spamcop',
  'uceprotect',
  '\\bsorbs\\b',
  'barracuda ?(reputation|central)',
  'cloudmark',
  '\\bdnsbl\\b',
  '\\brbl\\b',
  'realtime block',
  'black ?list',
  'block ?list',
  'blocked using',
  // Not "User not listed in Domino Directory", a mailbox answer.
  '(?<!not )listed (at|in|on|by) ',
);

/** The text names the connecting client: its IP, host name, PTR or reputation. */
const CLIENT_REFUSED = anyOf(
  'client (host|address|ip)',
  'your (ip|host|server|network|mail ?server)',
  '(sending|sender|originating|connecting) (ip|host|server|mta)',
  'from (ip )?\\[?\\d{1,3}(\\.\\d{1,3}){3}',
  'unsolicited mail',
  'reputation',
  'user complaints',
  'reverse (dns|host ?name|lookup)',
  '\\bptr\\b',
  '\\brdns\\b',
  'ip name lookup failed',
  'cannot find your (host ?name|reverse)',
  '(helo|ehlo) (command |name )?(rejected|invalid|not allowed)',
  'dynamic ip',
  'traffic not accepted',
);

/** The sender address or domain failed a check: SPF, DKIM, DMARC, callouts, DNS. */
const SENDER_REFUSED = anyOf(
  '\\bspf\\b',
  '\\bdkim\\b',
  '\\bdmarc\\b',
  // "Sender address rejected: Domain not found" (Postfix), "Sender verify
  // failed, user unknown" (Exim): the unknown user there is our sender.
  '\\bsender\\b.{0,40}(rejected|denied|refused|blocked|verif|not exist|unknown|invalid)',
  'verification failed for <',
  'mail ?from domain',
  'sender domain',
  'dns .{0,20}resource record',
);

/** The server will not take mail for this domain from us, or wants TLS or a login. */
const RELAY_OR_AUTH = anyOf(
  'relay(ing)? (access )?(is )?(denied|disabled|not permitted|not allowed|prohibited|disallowed)',
  'unable to relay',
  'as a relay',
  'allowed rcpthosts',
  'authentication (is )?required',
  'must (be )?authenticated?',
  'starttls',
);

// postgrey's "Greylisted, see http://postgrey.schweikert.ch/...", ZEROSPAM's
// "greylisted for 60 seconds", milter-greylist's "Greylisting in action".
const GREYLIST = anyOf('gr[ae]y ?list');

// Postfix's "452 4.5.3 Error: too many recipients", Yahoo's "421 Max message
// per connection reached": the session is spent, a new one may do.
const TOO_MANY = anyOf(
  'too many recipients',
  'recipient limit',
  'max(imum)? (number of )?recipients',
  'max(imum)? (number of )?messages? per (connection|session)',
);

// Sendmail's "452 4.4.5 Insufficient disk space", Mimecast's "451 Internal
// resource temporarily unavailable": the server's trouble, not the mailbox's.
const SERVER_TROUBLE = anyOf(
  'insufficient system',
  'system (storage|resources)',
  'disk space',
  'server error',
  'system failure',
  'internal resource',
);

// Gmail's "receiving mail at a rate that prevents additional messages",
// Yandex's "exceeded message rate limit", Microsoft's 5.2.122 "exceeded their
// limit for the number of messages they can receive per hour".
const RECIPIENT_RATE = anyOf(
  'receiving mail (at a rate|too quickly|too fast)',
  'exceeded (the )?(message )?rate limit',
  'messages they can receive',
);

// Gmail's "over quota", iCloud's "user is overquota", Yandex's "Mailbox size
// limit exceeded", GMX's "exceeded storage allocation", web.de's "User has
// exhausted allowed storage space", Orange's "Boite du destinataire pleine".
const MAILBOX_FULL = anyOf(
  '(mail|in)box (is |was )?full',
  'mailbox size limit',
  'over ?quota',
  'storage quota',
  // Not Outlook's "450 4.7.3 Organization queue quota exceeded", a server queue.
  '(?<!queue )quota (exceeded|violation)',
  'exceeded (the |its |their )?(storage|quota|mailbox)',
  'storage allocation',
  'exhausted allowed storage',
  'too many messages on the server',
  'destinataire pleine',
);

// Exim's "please try later", Barracuda's "Try again later".
const TRY_LATER = anyOf('try (it )?(again )?later', 'come back later', 'retry later');

// Yahoo's "This mailbox is disabled", mail.ru's "account is disabled", GMX's
// "User is inactive", addy.io's "User disabled".
const MAILBOX_DISABLED = anyOf(
  '(mailbox|account|user|address|recipient) (is |has been |was )?' +
    '(disabled|deactivated|inactive|suspended|closed|locked|discontinued)',
  '(disabled|deactivated|inactive|suspended) (mailbox|account|user|recipient)',
  'is (disabled|deactivated|inactive|suspended)\\b',
);

// The wordings of RFC 5321 and of Postfix, Exim, qmail, Exchange, Gmail,
// Yahoo ("This user doesn't have a yahoo.com account"), Yandex, Mimecast,
// Proofpoint ("marked as invalid"), Comcast ("Not our Customer"), Domino
// ("not listed in Domino Directory") for a mailbox that is not there.
const MAILBOX_UNKNOWN = anyOf(
  'user unknown',
  'unknown (user|recipient|mailbox|local[- ]?part|e-?mail address|address|addressee)',
  'addressee unknown',
  'no such (user|mailbox|recipient|person|address|account)',
  "(not|n't) exist",
  "n't have an? .{1,40} account",
  'invalid[- ](recipient|mailbox|user|address|e-?mail)',
  '(recipient|user|mailbox|address|account) (not found|not known|unknown)',
  'recipientnotfound',
  'mailbox (is )?(unavailable|not available|not found|invalid|unallocated)',
  'no mailbox',
  'not (a )?valid (user|mailbox|recipient|e-?mail|address)',
  'no longer (valid|on)',
  'not (listed|found) in .{0,40}directory',
  'not our customer',
  'marked as invalid',
  'not in recipient list',
  'undeliverable address',
);

// Gmail's "is not a valid RFC-5321 address", Postfix's "Bad recipient
// address syntax".
const BAD_ADDRESS_SYNTAX = anyOf('not a valid rfc[- ]?5321 address', 'recipient address syntax');

// Refusals that do not say why: "Message not allowed" (Yahoo), "550 Blocked"
// (Barracuda), "Administrative prohibition" (Mimecast), "spam message
// rejected" (mail.ru). Read only after every mailbox rule.
const POLICY = anyOf(
  'polic(y|ies)',
  'spam',
  'prohibit',
  'not (allowed|authorized|permitted|accepted)',
  'denied',
  'refused',
  '\\bblocked\\b',
  'filtered',
  'abuse',
  'banned',
  'security',
  'virus',
);

/**
 * The rules, first match wins. Each carries the real reply (or the RFC
 * section) that motivated it; the fixtures in test/fixtures/smtp-replies.ts
 * hold the full replies and hit every rule.
 */
export const REPLY_RULES: readonly ReplyRule[] = [
  // --- The code alone -----------------------------------------------------

  // RFC 5321 4.2: replies are 2yz to 5yz; anything else is a broken peer.
  { id: 'code-out-of-range', stages: ANY_STAGE, codes: ['other'], ...PROTOCOL_ERROR },
  // "354 End data with <CR><LF>.<CR><LF>" belongs to DATA, which we never send.
  { id: 'unexpected-intermediate', stages: ANY_STAGE, codes: ['3xx'], ...PROTOCOL_ERROR },
  // "252 Cannot VRFY user, but will accept message and attempt delivery"
  // (RFC 5321 3.5.3): accepted without being checked, so no proof.
  { id: 'rcpt-cannot-verify', stages: RCPT, codes: ['252'], ...UNCONFIRMED },
  // "250 2.1.5 Ok" (Postfix), "251 User not local; will forward" (RFC 5321 3.4).
  { id: 'rcpt-accepted', stages: RCPT, codes: ['2xx'], ...ACCEPTED },
  // "220 ... Microsoft ESMTP MAIL Service ready": the conversation may go on;
  // no verdict on the mailbox before RCPT.
  { id: 'step-accepted', stages: BEFORE_RCPT, codes: ['2xx'], ...UNCONFIRMED },

  // --- Greylisting, before the block rules: its texts often say "blocked" --

  // "450 4.2.0 <x>: Recipient address rejected: Greylisted, see
  // http://postgrey.schweikert.ch/help/example.com.html" (postgrey),
  // "451 4.7.1 Greylisting in action, please come back later" (milter-greylist).
  { id: 'greylisted', stages: ANY_STAGE, codes: ['4xx'], text: GREYLIST, ...GREYLISTED },
  // "451 4.7.500 Server busy. Please try again later from [x]. (AS77712344)":
  // Microsoft's own NDR page calls its 4.7.500-699 throttling graylisting.
  {
    id: 'microsoft-throttling',
    stages: ENVELOPE,
    codes: ['4xx'],
    enhanced: /^4\.7\.[56]\d\d$/,
    ...GREYLISTED,
  },

  // --- Refusals aimed at the sender, at any stage -------------------------

  // "550 5.7.25 ... does not have a PTR record setup" (Gmail, RFC 7372),
  // "550 5.7.606 Access denied, banned sending IP [x]" (Microsoft 5.7.606-649),
  // "554 5.1.8 <x>: Sender address rejected: Domain not found" (Postfix).
  // In the IANA registry 5.7.20-28 are DKIM, SPF, reverse DNS, multiple
  // authentication failures, the sender's null MX and mail floods; 5.1.7-8
  // the sender's address; 5.7.6xx and 5.7.7xx are Microsoft's IP and tenant
  // blocks.
  {
    id: 'sender-policy-code',
    stages: ANY_STAGE,
    codes: FAILURE,
    enhanced: /^[45]\.7\.2[0-8]$|^5\.7\.(6[0-4]\d|7[0-5]\d)$|^[45]\.1\.[78]$/,
    ...BLOCKED,
  },
  // "554 5.7.1 Service unavailable; Client host [x] blocked using zen.spamhaus.org"
  { id: 'sender-blocklisted', stages: ANY_STAGE, codes: FAILURE, text: BLOCKLISTED, ...BLOCKED },
  // "550-5.7.1 ... unusual rate of unsolicited mail originating from your IP
  // address" (Gmail), "450 4.7.1 Client host rejected: cannot find your hostname"
  {
    id: 'sending-client-refused',
    stages: ANY_STAGE,
    codes: FAILURE,
    text: CLIENT_REFUSED,
    ...BLOCKED,
  },
  // "550 5.7.1 Unauthenticated email from example.com is not accepted due to
  // domain's DMARC policy" (Gmail), Exim's "550 Sender verify failed".
  {
    id: 'sender-identity-refused',
    stages: ANY_STAGE,
    codes: FAILURE,
    text: SENDER_REFUSED,
    ...BLOCKED,
  },
  // "554 5.7.1 <x>: Relay access denied" (Postfix, iCloud), "553 sorry, that
  // domain isn't in my list of allowed rcpthosts (#5.7.1)" (qmail),
  // "530 5.7.0 Must issue a STARTTLS command first".
  {
    id: 'relay-or-auth-required',
    stages: ANY_STAGE,
    codes: FAILURE,
    text: RELAY_OR_AUTH,
    ...BLOCKED,
  },

  // --- Temporary conditions ----------------------------------------------

  // "452 4.5.3 Error: too many recipients" (Postfix). RFC 5321 4.5.3.1.10:
  // a 552 here is an old mistake for 452; either way a new session helps.
  {
    id: 'too-many-recipients-code',
    stages: ENVELOPE,
    codes: FAILURE,
    enhanced: /^[45]\.5\.3$/,
    ...TEMPORARY,
    retry: 'new_session',
  },
  // "421 Max message per connection reached, closing transmission channel" (Yahoo)
  {
    id: 'too-many-recipients-text',
    stages: ENVELOPE,
    codes: FAILURE,
    text: TOO_MANY,
    ...TEMPORARY,
    retry: 'new_session',
  },
  // "421 4.3.2 Service not available" at the greeting: RFC 5321 5.1 says
  // to try the next mail server.
  {
    id: 'service-closing-at-greeting',
    stages: GREETING,
    codes: ['421'],
    ...TEMPORARY,
    retry: 'next_server',
  },
  // "421 4.7.1 Messages to x@icloud.com deferred due to excessive volume.
  // Try again later" (RFC 5321 3.8: the server is closing the channel).
  { id: 'service-closing', stages: ANY_STAGE, codes: ['421'], ...TEMPORARY, retry: 'later' },
  // "452 4.3.1 Insufficient system storage" (Postfix) is the server's disk,
  // not the mailbox; RFC 3463 X.3.x is the mail system's own status.
  {
    id: 'server-trouble-code',
    stages: ANY_STAGE,
    codes: ['4xx'],
    enhanced: /^4\.3\.\d{1,3}$/,
    ...TEMPORARY,
  },
  // "452 4.4.5 Insufficient disk space; try again later" (Sendmail)
  {
    id: 'server-trouble-text',
    stages: ANY_STAGE,
    codes: ['4xx'],
    text: SERVER_TROUBLE,
    ...TEMPORARY,
  },
  // "550 5.2.1 The user you are trying to contact is receiving mail at a rate
  // that prevents additional messages from being delivered" (Gmail): the
  // mailbox exists and is busy, whatever the class says.
  {
    id: 'rcpt-recipient-rate-limited',
    stages: RCPT,
    codes: FAILURE,
    text: RECIPIENT_RATE,
    ...TEMPORARY,
    retry: 'later',
  },

  // --- Mailbox facts -------------------------------------------------------

  // "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)":
  // Microsoft's directory-based edge blocking, its answer for an address
  // the tenant does not have.
  {
    id: 'rcpt-directory-edge-block',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.4\.1$/,
    text: /recipient address rejected: access denied/i,
    ...NOT_FOUND,
  },
  // "552 5.2.2 The email account that you tried to reach is over quota" (Gmail),
  // "452 4.2.2 ... over quota": risky, the mailbox exists.
  { id: 'rcpt-mailbox-full-code', stages: RCPT, codes: FAILURE, enhanced: /^[45]\.2\.2$/, ...FULL },
  // "552 Requested mail action aborted: exceeded storage allocation Quota
  // exceeded." (GMX), "552 5.1.1 Boite du destinataire pleine. Recipient
  // overquota." (Orange: the 552 and the text agree against the 5.1.1).
  { id: 'rcpt-mailbox-full-text', stages: RCPT, codes: FAILURE, text: MAILBOX_FULL, ...FULL },
  // "451 Temporary local problem - please try later" (Exim), "451 4.7.1 Try
  // again later" (Barracuda): how greylisting answers when it does not say so.
  {
    id: 'greylist-try-later',
    stages: ENVELOPE,
    codes: ['450', '451'],
    text: TRY_LATER,
    ...GREYLISTED,
  },
  // "450 4.2.0 <x> - Recipient temporarily unavailable" (Comcast): a 4xx is
  // never a mailbox fact, whatever the text says ("451 Invalid Recipient").
  { id: 'temporary-4xx', stages: ANY_STAGE, codes: ['4xx'], ...TEMPORARY },

  // --- Only 5xx from here ---------------------------------------------------

  // "502 5.5.2 Error: command not recognized", "503 5.5.1 Error: need MAIL
  // command" (Postfix): RFC 5321 4.2.2, a command the server did not take.
  {
    id: 'command-not-recognized',
    stages: ANY_STAGE,
    codes: ['500', '502', '503'],
    ...PROTOCOL_ERROR,
  },
  // "553 5.6.7 Must declare SMTPUTF8 to send unicode address" (Postfix,
  // RFC 6531): a fact about the conversation, not the mailbox.
  {
    id: 'smtputf8-refused',
    stages: ENVELOPE,
    codes: ['5xx'],
    enhanced: /^5\.6\.7$/,
    verdict: 'unknown',
    reason: 'smtputf8_unsupported',
  },
  // "501 Syntax error in parameters or arguments" at MAIL FROM (GMX): before
  // RCPT nothing about the mailbox has been asked.
  { id: 'pre-rcpt-refused', stages: BEFORE_RCPT, codes: ['5xx'], ...BLOCKED },
  // "550 5.2.1 <x>... Addressee unknown, relay=[x]" (AT&T) uses the
  // disabled code for an unknown user; the words are the more specific fact.
  {
    id: 'rcpt-unknown-user-on-disabled-code',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.2\.1$/,
    text: MAILBOX_UNKNOWN,
    ...NOT_FOUND,
  },
  // "550 5.2.1 The email account that you tried to reach is disabled" (Gmail)
  {
    id: 'rcpt-mailbox-disabled-code',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.2\.1$/,
    ...DISABLED,
  },
  // "554 delivery error: dd Sorry, your message to x cannot be delivered. This
  // mailbox is disabled (554.30)" (Yahoo), mail.ru's "account is disabled".
  {
    id: 'rcpt-mailbox-disabled-text',
    stages: RCPT,
    codes: ['5xx'],
    text: MAILBOX_DISABLED,
    ...DISABLED,
  },
  // "550-5.1.1 The email account that you tried to reach does not exist"
  // (Gmail), "550 5.1.6 recipient no longer on server"; RFC 3463 X.1.0 is
  // other address status. RFC 7505 made X.1.10 the recipient's null MX, but
  // DNS stops us before any such domain; from a mail server 5.1.10 is
  // Exchange's "RESOLVER.ADR.RecipientNotFound".
  {
    id: 'rcpt-mailbox-unknown-code',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.1\.(0|1|6|10)$/,
    ...NOT_FOUND,
  },
  // "550 5.1.3 Bad recipient address syntax" (Yandex): the server will never
  // take this address, whatever our own syntax check said.
  {
    id: 'rcpt-bad-address-syntax-code',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.1\.3$/,
    ...BAD_SYNTAX,
  },
  // "553 5.1.2 The recipient address <.@gmail.com> is not a valid RFC-5321
  // address. - gsmtp"
  {
    id: 'rcpt-bad-address-syntax-text',
    stages: RCPT,
    codes: ['5xx'],
    text: BAD_ADDRESS_SYNTAX,
    ...BAD_SYNTAX,
  },
  // "554 delivery error: dd This user doesn't have a yahoo.com account",
  // "550 5.5.0 Requested action not taken: mailbox unavailable" (Outlook),
  // "550 5.7.1 No such user!" (Yandex answers a dead mailbox with 5.7.1).
  {
    id: 'rcpt-mailbox-unknown-text',
    stages: RCPT,
    codes: ['5xx'],
    text: MAILBOX_UNKNOWN,
    ...NOT_FOUND,
  },
  // "550 Unrouteable address" (Exim): what its recipient verification says
  // when no router takes the local part.
  {
    id: 'rcpt-unrouteable-address',
    stages: RCPT,
    codes: ['5xx'],
    text: /unrouteable address/i,
    ...NOT_FOUND,
  },
  // "550 5.1.2 <x>: Recipient address rejected: Domain not found" (Postfix):
  // RFC 3463 X.1.2, the domain's own mail server says the domain is not
  // served there, so mail sent the usual way ends at the same refusal.
  {
    id: 'rcpt-bad-destination-system',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.1\.2$/,
    ...NO_MAIL_SERVER,
  },
  // "554 5.4.0 Error: too many hops" (Postfix): RFC 3463 X.4.x is routing
  // trouble at this server, no fact about the mailbox; another MX may route.
  {
    id: 'rcpt-routing-failure',
    stages: RCPT,
    codes: ['5xx'],
    enhanced: /^5\.4\.\d{1,3}$/,
    ...REJECTED,
    retry: 'next_server',
  },
  // "550 5.7.1 [CS01] Message rejected due to local policy" (iCloud):
  // RFC 3463 X.7.x is security or policy.
  { id: 'rcpt-policy-code', stages: RCPT, codes: ['5xx'], enhanced: /^5\.7\.\d{1,3}$/, ...BLOCKED },
  // "550 Blocked" (Barracuda), "554 Message not allowed - [299]" (Yahoo).
  { id: 'rcpt-policy-text', stages: RCPT, codes: ['5xx'], text: POLICY, ...BLOCKED },
  // RFC 5321 4.2.2: 550 is "mailbox unavailable"; 551 "User not local;
  // please try <forward-path>" (3.4) says the mailbox is not here either.
  { id: 'rcpt-mailbox-unavailable', stages: RCPT, codes: ['550', '551'], ...NOT_FOUND },
  // "554 delivery error: dd Requested mail action aborted" (Yahoo): a
  // refusal that does not say whether it is about the mailbox.
  { id: 'rcpt-refused-unexplained', stages: RCPT, codes: ['5xx'], ...REJECTED },
];

export function classifyReply(stage: ReplyStage, reply: SmtpReply): ReplyClass {
  const text = normalizeText(reply.text);
  const enhancedCode = findEnhancedCode(reply);

  const rule = REPLY_RULES.find((candidate) => {
    return (
      candidate.stages.includes(stage) &&
      candidate.codes.some((pattern) => matchesCode(pattern, reply.code)) &&
      (candidate.enhanced === undefined ||
        (enhancedCode !== null && candidate.enhanced.test(enhancedCode))) &&
      (candidate.text === undefined || candidate.text.test(text))
    );
  });
  if (rule === undefined) {
    throw new Error(`no reply rule for ${stage} ${reply.code}: the table has a gap`);
  }

  return {
    verdict: rule.verdict,
    reason: rule.reason,
    retry: adviseRetry(stage, reply.code, rule),
    rule: rule.id,
  };
}

function matchesCode(pattern: CodePattern, code: number): boolean {
  const isInRange = Number.isInteger(code) && code >= 200 && code <= 599;
  if (pattern === 'other') return !isInRange;
  if (!isInRange) return false;

  if (pattern.endsWith('xx')) return pattern.charAt(0) === String(code).charAt(0);
  return Number(pattern) === code;
}

// RFC 3463 2: class.subject.detail, one to three digits each.
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

// Barracuda's "550 cuda_nsu 5.1.1 <x>... User unknown", qmail's "511 sorry,
// no mailbox here by that name (#5.1.1 - chkuser)", "550 #5.1.0 Address
// rejected.": the code is there, just not first on the line. Dots or digits
// around it would make it part of an IP address.
const CODE_IN_TEXT = /(?:^|[\s(#])([245]\.\d{1,3}\.\d{1,3})(?=$|[\s),;:\]])/g;

/**
 * The enhanced code from the first line or, when that had none, the first
 * one in the text whose class agrees with the reply code (RFC 3463 3).
 */
function findEnhancedCode(reply: SmtpReply): string | null {
  const replyClass = String(reply.code).charAt(0);
  const given = reply.enhancedCode;
  if (given !== null && ENHANCED_CODE.test(given) && given.charAt(0) === replyClass) {
    return given;
  }

  const head = reply.text.slice(0, MAX_TEXT_CHARS);
  for (const match of head.matchAll(CODE_IN_TEXT)) {
    const code = match[1];
    if (code !== undefined && code.charAt(0) === replyClass) return code;
  }
  return null;
}

/**
 * One line of words: multi-line replies break phrases ("unusual rate of" /
 * "unsolicited mail"), and servers repeat the enhanced code on every line.
 */
function normalizeText(text: string): string {
  return text
    .slice(0, MAX_TEXT_CHARS)
    .split('\n')
    .map((line) => line.replace(/^\s*[245]\.\d{1,3}\.\d{1,3}(?=\s|$)/, ''))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function adviseRetry(stage: ReplyStage, code: number, rule: ReplyRule): RetryAdvice {
  if (rule.retry !== undefined) return rule.retry;

  const isFailure = code >= 400 && code <= 599;
  // RFC 5321 5.1: a server that will not talk at all sends us on to the next
  // MX; Postfix does the same for a 5xx greeting (smtp_skip_5xx_greeting).
  if (isFailure && GREETING.includes(stage)) return 'next_server';
  if (code >= 400 && code <= 499) return 'later';
  return 'none';
}
