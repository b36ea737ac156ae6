import { describe, expect, it } from 'vitest';
import type { AddressRange } from '../../src/verify/mail-server-guard.js';
import { classifyAddress, isAllowedMailServerAddress } from '../../src/verify/mail-server-guard.js';

const REFUSED: [string, AddressRange][] = [
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.5.4', 'private'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'linkLocal'],
  ['100.64.0.1', 'carrierGradeNat'],
  ['224.0.0.1', 'multicast'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.25', 'reserved'],
  ['198.51.100.25', 'reserved'],
  ['203.0.113.25', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.19.255.254', 'reserved'],
  ['192.0.0.8', 'reserved'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fe80::1', 'linkLocal'],
  ['fe80::1%eth0', 'linkLocal'],
  ['fd00::1', 'uniqueLocal'],
  ['fc00::1', 'uniqueLocal'],
  ['ff02::1', 'multicast'],
  ['2001:db8::25', 'reserved'],
  ['3fff::25', 'reserved'],
  ['fec0::1', 'reserved'],
  ['100::1', 'reserved'],
  // IPv4-compatible addresses (RFC 4291 2.5.5.1) are deprecated, not mapped.
  ['::127.0.0.1', 'reserved'],
  ['::8.8.8.8', 'reserved'],
  ['4000::1', 'reserved'],
  ['64:ff9b:1::a00:1', 'private'],
];

// IPv6 forms that deliver to an IPv4 address are judged by that address.
const EMBEDDED: [string, AddressRange][] = [
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:169.254.169.254', 'linkLocal'],
  ['::ffff:8.8.8.8', 'public'],
  ['::ffff:0:10.0.0.1', 'private'],
  ['64:ff9b::127.0.0.1', 'loopback'],
  ['64:ff9b::808:808', 'public'],
  ['2002:7f00:1::1', 'loopback'],
  ['2002:c0a8:101::1', 'private'],
  ['2002:808:808::1', 'public'],
  // Teredo: server 8.8.8.8, client 192.168.1.1 stored inverted (3f57:fefe).
  ['2001:0:808:808::3f57:fefe', 'private'],
  // Teredo: server 8.8.8.8, client 8.8.4.4 stored inverted (f7f7:fbfb).
  ['2001:0:808:808::f7f7:fbfb', 'public'],
  // Teredo: server 10.0.0.1, client 8.8.4.4.
  ['2001:0:a00:1::f7f7:fbfb', 'private'],
];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2001:4860:4860::8888'];

const INVALID = [
  '',
  'mx.example.test',
  '127.1',
  '0x7f.0.0.1',
  '010.0.0.1',
  ' 8.8.8.8',
  '::g',
  '::ffff:010.0.0.1',
];

describe('classifyAddress', () => {
  it.each(REFUSED)('classifies %s as %s', (ip, range) => {
    expect(classifyAddress(ip)).toBe(range);
  });

  it.each(EMBEDDED)('classifies %s by the IPv4 address inside it (%s)', (ip, range) => {
    expect(classifyAddress(ip)).toBe(range);
  });

  it.each(PUBLIC)('classifies %s as public', (ip) => {
    expect(classifyAddress(ip)).toBe('public');
  });

  it.each(INVALID)('classifies %j as invalid', (ip) => {
    expect(classifyAddress(ip)).toBe('invalid');
  });
});

describe('isAllowedMailServerAddress', () => {
  it.each(REFUSED.map(([ip]) => ip))('refuses %s by default', (ip) => {
    expect(isAllowedMailServerAddress(ip, { allowPrivate: false })).toBe(false);
  });

  it.each(['::ffff:127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:a00:1::1'])(
    'refuses %s, which leads to a private IPv4 address',
    (ip) => {
      expect(isAllowedMailServerAddress(ip, { allowPrivate: false })).toBe(false);
    },
  );

  it.each(PUBLIC)('allows the public address %s', (ip) => {
    expect(isAllowedMailServerAddress(ip, { allowPrivate: false })).toBe(true);
  });

  it.each(REFUSED.map(([ip]) => ip))('allows %s when private servers are allowed', (ip) => {
    expect(isAllowedMailServerAddress(ip, { allowPrivate: true })).toBe(true);
  });

  it.each(INVALID)('refuses the unparseable %j even when private servers are allowed', (ip) => {
    expect(isAllowedMailServerAddress(ip, { allowPrivate: true })).toBe(false);
    expect(isAllowedMailServerAddress(ip, { allowPrivate: false })).toBe(false);
  });
});
