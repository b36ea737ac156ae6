/**
 * An in-memory Resolver over a declared zone, for unit tests that need no
 * sockets. It fails the way Node's resolver fails against the same zone
 * served by `startDnsServer` (the equivalence is checked in
 * dns-server.test.ts): an Error whose `code`, `syscall` and `hostname`
 * match what c-ares reports.
 *
 * Addresses come back exactly as written in the zone, so write them in the
 * canonical form Node prints ("2001:db8::1", not "2001:0db8:0:0::1").
 */
import type { Resolver } from '../../src/verify/types.js';
import type { Zone, ZoneEntry } from './dns-server.js';

export type ZoneResolverErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ESERVFAIL' | 'ETIMEOUT' | 'EREFUSED';

const BEHAVIOUR_CODES = {
  servfail: 'ESERVFAIL',
  timeout: 'ETIMEOUT',
  refused: 'EREFUSED',
} as const satisfies Record<NonNullable<ZoneEntry['behaviour']>, ZoneResolverErrorCode>;

export function createZoneResolver(zone: Zone): Resolver {
  const records = new Map(
    Object.entries(zone).map(([name, entry]) => [normalizeName(name), entry]),
  );

  const lookup = async <T>(
    syscall: string,
    hostname: string,
    select: (entry: ZoneEntry) => T[] | undefined,
  ): Promise<T[]> => {
    const entry = records.get(normalizeName(hostname));
    if (!entry) throw buildDnsError(syscall, 'ENOTFOUND', hostname);
    if (entry.behaviour) {
      throw buildDnsError(syscall, BEHAVIOUR_CODES[entry.behaviour], hostname);
    }

    const answers = select(entry) ?? [];
    if (answers.length === 0) throw buildDnsError(syscall, 'ENODATA', hostname);
    return answers;
  };

  return {
    resolveMx: (domain) =>
      lookup('queryMx', domain, (entry) =>
        entry.MX?.map(({ preference, exchange }) => ({
          exchange: toWireName(exchange),
          priority: preference,
        })),
      ),
    resolve4: (host) => lookup('queryA', host, (entry) => entry.A?.slice()),
    resolve6: (host) => lookup('queryAaaa', host, (entry) => entry.AAAA?.slice()),
  };
}

/** The shape of Node's DNS errors: "queryMx ENOTFOUND example.test". */
function buildDnsError(
  syscall: string,
  code: ZoneResolverErrorCode,
  hostname: string,
): NodeJS.ErrnoException & { hostname: string } {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), {
    code,
    syscall,
    hostname,
  });
}

/** Names on the wire carry no trailing dot; the root "." reads as "". */
function toWireName(name: string): string {
  return name.replace(/\.+$/, '');
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}
