/**
 * The flags that describe an address rather than decide it: a role account
 * (info@), a free webmail domain, a disposable domain. Domains come in as
 * lower-case A-labels, the form parseAddress returns.
 */
import { createRequire } from 'node:module';
import { domainToASCII } from 'node:url';

/**
 * Mailboxes that name a function, not a person: RFC 2142 (postmaster,
 * abuse, hostmaster, webmaster ...) plus the shared inboxes companies put
 * on their sites. Written without `-`, `.` or `_`; see normalizeLocalPart.
 */
const ROLE_LOCAL_PARTS: ReadonlySet<string> = new Set([
  'abuse',
  'accounting',
  'accounts',
  'admin',
  'administrator',
  'admissions',
  'billing',
  'bookings',
  'careers',
  'compliance',
  'contact',
  'contactus',
  'customercare',
  'customerservice',
  'customersupport',
  'devnull',
  'donotreply',
  'enquiries',
  'enquiry',
  'feedback',
  'finance',
  'ftp',
  'hello',
  'help',
  'helpdesk',
  'hostmaster',
  'hr',
  'info',
  'information',
  'inquiries',
  'inquiry',
  'investorrelations',
  'investors',
  'it',
  'jobs',
  'legal',
  'listrequest',
  'mailerdaemon',
  'majordomo',
  'marketing',
  'media',
  'news',
  'newsletter',
  'nobody',
  'noc',
  'noreply',
  'office',
  'orders',
  'partners',
  'payments',
  'postmaster',
  'press',
  'privacy',
  'purchasing',
  'reception',
  'recruiting',
  'recruitment',
  'reservations',
  'returns',
  'root',
  'sales',
  'security',
  'service',
  'support',
  'sysadmin',
  'team',
  'tech',
  'unsubscribe',
  'usenet',
  'uucp',
  'webmaster',
  'welcome',
  'www',
]);

const require = createRequire(import.meta.url);

let freeProviderDomains: ReadonlySet<string> | null = null;
let disposableDomains: DisposableLists | null = null;

/**
 * Entries of email-providers' common.json that are not mailbox providers:
 * the domains RFC 2606 reserves for examples, two company domains, and
 * facebook.com, whose @facebook.com addresses were retired in 2014.
 * Throwaway services on the list keep the free flag; the disposable flag
 * is what decides their verdict.
 */
const NOT_FREE_PROVIDERS: ReadonlySet<string> = new Set([
  'example.com',
  'example.net',
  'example.org',
  'test.com',
  'test.de',
  'facebook.com',
]);

interface DisposableLists {
  /** Domains that are disposable themselves (index.json). */
  exact: ReadonlySet<string>;
  /** Domains whose every subdomain is disposable too (wildcard.json). */
  withSubdomains: ReadonlySet<string>;
}

/**
 * Loads the provider and disposable lists (about 120,000 domains, some
 * 90 ms) now rather than on the first address, e.g. while a service starts.
 */
export function loadAddressLists(): void {
  isFreeProvider('example.invalid');
  isDisposableDomain('example.invalid');
}

/** RFC 5321 4.5.1 makes postmaster case-insensitive; the rest follow suit. */
export function isRoleAccount(localPart: string): boolean {
  return ROLE_LOCAL_PARTS.has(normalizeLocalPart(localPart));
}

export function isFreeProvider(domain: string): boolean {
  freeProviderDomains ??= new Set(
    readDomainList('email-providers/common.json').filter((entry) => !NOT_FREE_PROVIDERS.has(entry)),
  );

  return freeProviderDomains.has(normalizeDomain(domain));
}

/**
 * A domain is disposable when index.json lists it, or when wildcard.json
 * lists it or a parent domain, as the package defines its two lists.
 * index.json also names a few second-level registries (edu.pl, net.ee,
 * za.com) under which universities and companies hold their domains, so
 * its entries never stand for their subdomains; the services that hand
 * out subdomains (33mail.com, yopmail.com, pe.hu) are on the wildcard list.
 */
export function isDisposableDomain(domain: string): boolean {
  disposableDomains ??= loadDisposableDomains();

  const name = normalizeDomain(domain);
  if (disposableDomains.exact.has(name)) return true;

  const labels = name.split('.');
  for (let start = 0; start <= labels.length - 2; start += 1) {
    if (disposableDomains.withSubdomains.has(labels.slice(start).join('.'))) {
      return true;
    }
  }
  return false;
}

/**
 * Lower case, no subaddress (RFC 5233: `sales+eu` is sales), no quotes, and
 * no `-`, `.` or `_`, so no-reply, no.reply and no_reply all read noreply.
 */
function normalizeLocalPart(localPart: string): string {
  const unquoted = /^".*"$/s.test(localPart)
    ? localPart.slice(1, -1).replace(/\\(.)/gs, '$1')
    : localPart;
  const plus = unquoted.indexOf('+');
  const base = plus === -1 ? unquoted : unquoted.slice(0, plus);

  return base.toLowerCase().replace(/[-._]/g, '');
}

function normalizeDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.$/, '');
}

function loadDisposableDomains(): DisposableLists {
  const read = (specifier: string) =>
    new Set(
      readDomainList(specifier)
        .map(toALabel)
        .filter((entry) => entry !== ''),
    );

  return {
    exact: read('disposable-email-domains/index.json'),
    withSubdomains: read('disposable-email-domains/wildcard.json'),
  };
}

/**
 * A dozen entries are U-labels (gmaıl.net, with a dotless i) while lookups
 * come in A-label form. Converting only those keeps the first call fast.
 */
function toALabel(entry: string): string {
  return /\P{ASCII}/u.test(entry) ? domainToASCII(entry) : entry;
}

/** A broken installation is a programming error, so this one throws. */
function readDomainList(specifier: string): string[] {
  const list: unknown = require(specifier);
  if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) {
    throw new Error(`${specifier} is not a list of domain names`);
  }
  return list.map((entry: string) => entry.toLowerCase());
}
