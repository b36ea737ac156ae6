/**
 * Catch-all detection: a local part that cannot exist, asked in a session
 * of its own, after the real address (some large providers penalise a
 * session that probes nonsense before a real recipient).
 */
import { probeMailbox } from './probe-mailbox.js';
import type { ProbeDeps, ProbeSettings } from './probe-mailbox.js';
import type { ResolvedMailServer } from './resolve-mail-servers.js';
import type { SocketTarget } from './types.js';

const PROBE_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PROBE_LENGTH = 20;

/** Remembers each domain's answer so the probe runs once per lifetime. */
export interface CatchAllMemory {
  recall(domain: string): Promise<boolean | null>;
  remember(domain: string, isCatchAll: boolean): Promise<void>;
}

/**
 * True when the server accepts an address that cannot exist, false when it
 * refuses it as unknown, null when the probe gave no clear answer.
 */
export async function detectCatchAll(
  domain: string,
  server: SocketTarget,
  settings: ProbeSettings,
  deps: ProbeDeps & { random: () => number; memory?: CatchAllMemory },
): Promise<boolean | null> {
  const remembered = await deps.memory?.recall(domain);
  if (remembered !== undefined && remembered !== null) return remembered;

  const recipient = `${randomLocalPart(deps.random)}@${domain}`;
  const onlyServer: ResolvedMailServer = {
    host: server.host,
    preference: 0,
    addresses: [server.ip],
  };
  // No greylisting retries: a deferred probe is simply no answer.
  const probe = await probeMailbox(
    recipient,
    false,
    [onlyServer],
    { ...settings, smtpPort: server.port, retryDelays: [] },
    deps,
  );

  const isCatchAll = decideCatchAll(probe.isAccepted, probe.reason);
  if (isCatchAll !== null) await deps.memory?.remember(domain, isCatchAll);
  return isCatchAll;
}

/** What the answer for an address that cannot exist says about the domain. */
export function decideCatchAll(isAccepted: boolean, reason: string): boolean | null {
  if (isAccepted) return true;
  if (reason === 'mailbox_not_found' || reason === 'mailbox_disabled') return false;
  return null;
}

export function randomLocalPart(random: () => number): string {
  let local = '';
  for (let index = 0; index < PROBE_LENGTH; index += 1) {
    local += PROBE_ALPHABET[Math.floor(random() * PROBE_ALPHABET.length)] ?? 'x';
  }
  return local;
}
