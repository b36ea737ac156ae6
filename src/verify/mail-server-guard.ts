/**
 * The guard in front of every SMTP connection (DESIGN.md, "The flow of one
 * address", step 4). MX records are written by whoever owns the domain, so
 * an attacker can point one at 127.0.0.1, at a cloud metadata service or at
 * a printer on our own network; the verifier would then talk to it for them.
 * Only addresses a public mail server can have are allowed, unless
 * configuration says the mail servers really are private.
 *
 * Ranges follow the IANA IPv4 and IPv6 Special-Purpose Address Registries
 * (RFC 6890 and its updates).
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';

export type AddressRange =
  | 'public'
  | 'unspecified'
  | 'broadcast'
  | 'loopback'
  | 'private'
  | 'linkLocal'
  | 'multicast'
  | 'reserved'
  | 'carrierGradeNat'
  | 'uniqueLocal'
  /** Not an IP address literal in the form Node would connect to as is. */
  | 'invalid';

export interface MailServerGuardOptions {
  /** For tests and internal deployments whose mail servers live on private networks. */
  allowPrivate: boolean;
}

type Cidr<T> = [T, number];

interface RangeRule<T> {
  range: AddressRange;
  cidrs: Cidr<T>[];
}

/** First match wins: 255.255.255.255 is also inside 240.0.0.0/4. */
const IPV4_RULES: RangeRule<ipaddr.IPv4>[] = [
  { range: 'broadcast', cidrs: cidrs4('255.255.255.255/32') }, // RFC 919
  { range: 'unspecified', cidrs: cidrs4('0.0.0.0/8') }, // RFC 1122 3.2.1.3
  { range: 'loopback', cidrs: cidrs4('127.0.0.0/8') }, // RFC 1122 3.2.1.3
  // RFC 1918
  { range: 'private', cidrs: cidrs4('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16') },
  { range: 'carrierGradeNat', cidrs: cidrs4('100.64.0.0/10') }, // RFC 6598
  { range: 'linkLocal', cidrs: cidrs4('169.254.0.0/16') }, // RFC 3927, cloud metadata
  { range: 'multicast', cidrs: cidrs4('224.0.0.0/4') }, // RFC 5771
  {
    range: 'reserved',
    cidrs: cidrs4(
      '192.0.0.0/24', // IETF protocol assignments, RFC 6890
      '192.0.2.0/24', // documentation, RFC 5737
      '198.51.100.0/24',
      '203.0.113.0/24',
      '192.88.99.0/24', // retired 6to4 relay anycast, RFC 7526
      '198.18.0.0/15', // benchmarking, RFC 2544
      '240.0.0.0/4', // future use, RFC 1112
    ),
  },
];

const IPV6_RULES: RangeRule<ipaddr.IPv6>[] = [
  { range: 'unspecified', cidrs: cidrs6('::/128') }, // RFC 4291 2.5.2
  { range: 'loopback', cidrs: cidrs6('::1/128') }, // RFC 4291 2.5.3
  { range: 'linkLocal', cidrs: cidrs6('fe80::/10') }, // RFC 4291 2.5.6
  { range: 'uniqueLocal', cidrs: cidrs6('fc00::/7') }, // RFC 4193
  { range: 'multicast', cidrs: cidrs6('ff00::/8') }, // RFC 4291 2.7
  { range: 'private', cidrs: cidrs6('64:ff9b:1::/48') }, // local-use NAT64, RFC 8215
  {
    range: 'reserved',
    cidrs: cidrs6(
      'fec0::/10', // deprecated site-local, RFC 3879
      '100::/64', // discard-only, RFC 6666
      '2001::/23', // IETF protocol assignments (Teredo handled apart), RFC 2928
      '2001:db8::/32', // documentation, RFC 3849
      '3fff::/20', // documentation, RFC 9637
    ),
  },
];

/** RFC 4291 2.4: only 2000::/3 is handed out as global unicast. */
const IPV6_GLOBAL_UNICAST = cidr6('2000::/3');

/** Prefixes whose last 32 bits are an IPv4 address. */
const TRAILING_IPV4_PREFIXES = [
  cidr6('::ffff:0:0/96'), // IPv4-mapped, RFC 4291 2.5.5.2
  cidr6('::ffff:0:0:0/96'), // IPv4-translated, RFC 6145
  cidr6('64:ff9b::/96'), // NAT64 well-known prefix, RFC 6052 2.1
];
const SIX_TO_FOUR = cidr6('2002::/16'); // RFC 3056 2
const TEREDO = cidr6('2001::/32'); // RFC 4380 4

export function classifyAddress(ip: string): AddressRange {
  // net.isIP first: ipaddr.js also reads "127.1" or "0x7f.0.0.1", which a
  // socket would hand to getaddrinfo rather than treat as an address.
  if (net.isIP(ip) === 0) return 'invalid';

  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.parse(net.isIPv6(ip) ? toHexIpv6(ip) : ip);
  } catch {
    return 'invalid';
  }

  return address.kind() === 'ipv4'
    ? classifyIpv4(address as ipaddr.IPv4)
    : classifyIpv6(address as ipaddr.IPv6);
}

export function isAllowedMailServerAddress(ip: string, options: MailServerGuardOptions): boolean {
  const range = classifyAddress(ip);

  if (range === 'invalid') return false;
  return options.allowPrivate || range === 'public';
}

function classifyIpv4(address: ipaddr.IPv4): AddressRange {
  return findRange(address, IPV4_RULES) ?? 'public';
}

function classifyIpv6(address: ipaddr.IPv6): AddressRange {
  const embedded = listEmbeddedIpv4(address);
  if (embedded.length > 0) {
    const ranges = embedded.map(classifyIpv4);
    return ranges.find((range) => range !== 'public') ?? 'public';
  }

  const range = findRange(address, IPV6_RULES);
  if (range) return range;

  return address.match(IPV6_GLOBAL_UNICAST) ? 'public' : 'reserved';
}

/**
 * Addresses that carry an IPv4 address and deliver to it: a mapped address
 * reaches the IPv4 host through our own dual-stack socket, the others
 * through a translator or relay. Each is as safe as the IPv4 inside.
 */
function listEmbeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4[] {
  const parts = address.parts;
  const at = (index: number): number => parts[index] ?? 0;

  const hasIpv4Tail = TRAILING_IPV4_PREFIXES.some((cidr) => address.match(cidr));
  if (hasIpv4Tail) return [ipv4FromParts(at(6), at(7))];

  if (address.match(SIX_TO_FOUR)) return [ipv4FromParts(at(1), at(2))];

  // RFC 4380 4: the Teredo server's address in bits 32-63, the client's
  // public address (where the packets go) in the last 32 bits, inverted.
  if (address.match(TEREDO)) {
    const client = ipv4FromParts(~at(6) & 0xffff, ~at(7) & 0xffff);
    return [client, ipv4FromParts(at(2), at(3))];
  }

  return [];
}

/**
 * ipaddr.js reads "::192.0.2.1" as the mapped "::ffff:192.0.2.1", but the
 * socket reaches "::c000:201"; writing the dotted tail in hex keeps them
 * the same. The zone id ("%eth0") does not change the range and is dropped.
 */
function toHexIpv6(ip: string): string {
  const [address = ''] = ip.split('%');
  const tailStart = address.lastIndexOf(':') + 1;
  const tail = address.slice(tailStart);
  if (!tail.includes('.')) return address;

  const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
  const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  return address.slice(0, tailStart) + hex;
}

function findRange<T extends ipaddr.IPv4 | ipaddr.IPv6>(
  address: T,
  rules: RangeRule<T>[],
): AddressRange | null {
  const rule = rules.find(({ cidrs }) => cidrs.some((cidr) => address.match(cidr)));
  return rule?.range ?? null;
}

function ipv4FromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function cidrs4(...ranges: string[]): Cidr<ipaddr.IPv4>[] {
  return ranges.map((range) => ipaddr.IPv4.parseCIDR(range));
}

function cidrs6(...ranges: string[]): Cidr<ipaddr.IPv6>[] {
  return ranges.map(cidr6);
}

function cidr6(range: string): Cidr<ipaddr.IPv6> {
  return ipaddr.IPv6.parseCIDR(range);
}
