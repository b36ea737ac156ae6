import { describe, expect, it } from 'vitest';
import {
  isDisposableDomain,
  isFreeProvider,
  isRoleAccount,
} from '../../src/verify/address-flags.js';

describe('isRoleAccount', () => {
  it.each([
    'admin',
    'info',
    'sales',
    'support',
    'postmaster',
    'abuse',
    'noreply',
    'webmaster',
    'hostmaster',
    'billing',
    'contact',
    'hello',
    'team',
    'office',
    'hr',
    'jobs',
    'careers',
    'marketing',
    'press',
    'security',
  ])('recognises %s', (localPart) => {
    expect(isRoleAccount(localPart)).toBe(true);
  });

  it('compares case-insensitively', () => {
    expect(isRoleAccount('PostMaster')).toBe(true);
    expect(isRoleAccount('INFO')).toBe(true);
  });

  it.each([
    'no-reply',
    'no.reply',
    'no_reply',
    'do-not-reply',
    'mailer-daemon',
    'customer.service',
  ])('reads the separator variant %s as the role', (localPart) => {
    expect(isRoleAccount(localPart)).toBe(true);
  });

  it('ignores a plus tag', () => {
    expect(isRoleAccount('sales+eu')).toBe(true);
    expect(isRoleAccount('support+ticket-4711')).toBe(true);
  });

  it('reads a quoted role the same as the unquoted one', () => {
    expect(isRoleAccount('"info"')).toBe(true);
  });

  it.each(['john', 'john.doe', 'jane+info', 'information.officer', 'salesman', 'hrishikesh', ''])(
    'does not flag the personal or unrelated local part %s',
    (localPart) => {
      expect(isRoleAccount(localPart)).toBe(false);
    },
  );
});

describe('isFreeProvider', () => {
  it.each(['gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com', 'gmx.de', 'web.de', 'mail.ru'])(
    'recognises %s from the email-providers list',
    (domain) => {
      expect(isFreeProvider(domain)).toBe(true);
    },
  );

  it.each(['example.org', 'acme-widgets.com', 'mail.acme-widgets.com'])(
    'does not flag the company domain %s',
    (domain) => {
      expect(isFreeProvider(domain)).toBe(false);
    },
  );

  it.each(['example.com', 'example.net', 'test.com', 'facebook.com'])(
    'does not flag %s, which common.json lists but hands out no mailboxes',
    (domain) => {
      expect(isFreeProvider(domain)).toBe(false);
    },
  );

  it('does not treat a subdomain of a provider as the provider', () => {
    expect(isFreeProvider('alumni.gmail.com')).toBe(false);
  });

  it('tolerates upper case and a trailing dot', () => {
    expect(isFreeProvider('GMail.com.')).toBe(true);
  });
});

describe('isDisposableDomain', () => {
  it.each(['mailinator.com', 'yopmail.com', 'guerrillamail.com', '10minutemail.com'])(
    'recognises %s',
    (domain) => {
      expect(isDisposableDomain(domain)).toBe(true);
    },
  );

  it('recognises a subdomain of a listed domain', () => {
    expect(isDisposableDomain('inbox.mailinator.com')).toBe(true);
    expect(isDisposableDomain('a.b.yopmail.com')).toBe(true);
  });

  it('recognises a domain under a wildcard-only entry and the entry itself', () => {
    // anonaddy.com is only on the wildcard list; it hands out alias subdomains.
    expect(isDisposableDomain('anonaddy.com')).toBe(true);
    expect(isDisposableDomain('someone.anonaddy.com')).toBe(true);
  });

  it('matches a listed internationalized domain in its A-label form', () => {
    // The list spells it gmaıl.net, with a dotless i.
    expect(isDisposableDomain('xn--gmal-nza.net')).toBe(true);
  });

  it.each(['gmail.com', 'outlook.com', 'example.org', 'com', ''])('does not flag %s', (domain) => {
    expect(isDisposableDomain(domain)).toBe(false);
  });

  it('does not flag a domain that merely ends like a listed one', () => {
    expect(isDisposableDomain('ourmailinator.com')).toBe(false);
  });

  it.each(['uw.edu.pl', 'acme.za.com', 'firma.net.ee'])(
    'does not flag %s, held under a registry that index.json lists for itself',
    (domain) => {
      expect(isDisposableDomain(domain.split('.').slice(1).join('.'))).toBe(true);
      expect(isDisposableDomain(domain)).toBe(false);
    },
  );

  it('tolerates upper case and a trailing dot', () => {
    expect(isDisposableDomain('Mailinator.COM.')).toBe(true);
  });
});
