/**
 * "Did you mean gmail.com?": a typo suggestion for the domains most people
 * actually use. A suggestion is only a hint next to the verdict, so the
 * rules below prefer silence to a wrong guess: a real domain that happens
 * to sit near a provider (mail.com next to gmail.com) must stay as it is.
 */

/** Lower-case A-labels of the consumer and ISP domains worth correcting towards. */
const PROVIDER_DOMAINS: readonly string[] = [
  'gmail.com',
  'googlemail.com',
  'yahoo.com',
  'ymail.com',
  'rocketmail.com',
  'hotmail.com',
  'outlook.com',
  'live.com',
  'msn.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'aol.com',
  'aim.com',
  'protonmail.com',
  'proton.me',
  'pm.me',
  'zoho.com',
  'fastmail.com',
  'tutanota.com',
  'gmx.com',
  'gmx.net',
  'gmx.de',
  'web.de',
  't-online.de',
  'freenet.de',
  'yandex.com',
  'yandex.ru',
  'rambler.ru',
  'inbox.ru',
  'list.ru',
  'bk.ru',
  'mail.ru',
  'qq.com',
  '163.com',
  '126.com',
  'yahoo.co.uk',
  'yahoo.co.jp',
  'yahoo.fr',
  'yahoo.de',
  'hotmail.co.uk',
  'hotmail.fr',
  'hotmail.de',
  'hotmail.it',
  'orange.fr',
  'free.fr',
  'laposte.net',
  'libero.it',
  'seznam.cz',
  'wp.pl',
  'o2.pl',
  'uol.com.br',
  'bol.com.br',
  'comcast.net',
  'verizon.net',
  'att.net',
  'sbcglobal.net',
  'bellsouth.net',
  'cox.net',
  'charter.net',
  'btinternet.com',
  'sky.com',
  'virginmedia.com',
];

/**
 * Real mail domains one edit from a provider: mail.com and email.com next
 * to gmail.com, Yahoo!7's y7mail.com next to ymail.com. Never corrected,
 * never offered.
 */
const LOOKALIKE_DOMAINS: readonly string[] = ['mail.com', 'email.com', 'y7mail.com'];

/** Suffixes on which any single edit counts as a typo: .con, .cmo, .co, .nte ... */
const FORGIVING_SUFFIXES: ReadonlySet<string> = new Set(['com', 'net']);

/** No real domain is longer (RFC 1035 2.3.4); bounds the distance work. */
const MAX_DOMAIN_LENGTH = 253;

interface SplitDomain {
  /** The first label: `gmail` in gmail.com, `yahoo` in yahoo.co.uk. */
  name: string;
  /** Everything after it: `com`, `co.uk`. */
  suffix: string;
}

const PROVIDERS = PROVIDER_DOMAINS.map((domain) => ({ ...splitDomain(domain), domain }));

const KNOWN_DOMAINS = new Set([...PROVIDER_DOMAINS, ...LOOKALIKE_DOMAINS]);

export function suggestDomain(domain: string): string | null {
  const wanted = domain.toLowerCase().replace(/\.$/, '');
  if (wanted.length > MAX_DOMAIN_LENGTH || KNOWN_DOMAINS.has(wanted)) {
    return null;
  }

  const given = splitDomain(wanted);
  let best: string | null = null;
  let bestCost = Infinity;
  let isTie = false;

  for (const provider of PROVIDERS) {
    const nameCost = measureNameTypo(given.name, provider.name);
    const suffixCost = measureSuffixTypo(given.suffix, provider.suffix);
    const cost = nameCost + suffixCost;

    if (cost < bestCost) {
      best = provider.domain;
      bestCost = cost;
      isTie = false;
    } else if (cost === bestCost && cost !== Infinity) {
      isTie = true;
    }
  }

  // Two providers equally close: any pick would be a coin toss.
  return isTie ? null : best;
}

/**
 * The edits between a typed name and a provider's name, or Infinity when
 * they are too far apart to call it a typo. Short names sit among many real
 * domains (gm.com, ao.com, love.com next to live.com), so the allowance
 * grows with the name; and the first letter must match, since a different
 * first letter mostly means a different word (cloud.com, wahoo.com).
 */
function measureNameTypo(typed: string, name: string): number {
  if (typed === name) {
    return 0;
  }
  if (typed.charAt(0) !== name.charAt(0) || name.length <= 3) {
    return Infinity;
  }
  if (name.length === 4) {
    return isAdjacentSwap(typed, name) ? 1 : Infinity;
  }

  const allowed = name.length >= 9 ? 2 : 1;
  const distance = measureEditDistance(typed, name, allowed);
  return distance <= allowed ? distance : Infinity;
}

/**
 * The edits between a typed suffix and a provider's suffix, or Infinity.
 * Any single slip on .com and .net is forgiven (.con, .co, .cm, .nte),
 * though .co and .cm are real ccTLDs: nobody's Gmail lives there. Other
 * suffixes end in a two-letter ccTLD whose one-letter neighbours are mostly
 * real countries (.de next to .dk), so only a swapped pair is forgiven.
 */
function measureSuffixTypo(typed: string, suffix: string): number {
  if (typed === suffix) {
    return 0;
  }
  if (FORGIVING_SUFFIXES.has(suffix)) {
    return measureEditDistance(typed, suffix, 1) <= 1 ? 1 : Infinity;
  }
  return isAdjacentSwap(typed, suffix) ? 1 : Infinity;
}

function isAdjacentSwap(typed: string, target: string): boolean {
  if (typed.length !== target.length) {
    return false;
  }

  const differences: number[] = [];
  for (let i = 0; i < typed.length && differences.length <= 2; i += 1) {
    if (typed.charAt(i) !== target.charAt(i)) {
      differences.push(i);
    }
  }

  const [first, second] = differences;
  return (
    differences.length === 2 &&
    first !== undefined &&
    second === first + 1 &&
    typed.charAt(first) === target.charAt(second) &&
    typed.charAt(second) === target.charAt(first)
  );
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions
 * and swaps of adjacent letters, each costing one. Returns early with
 * limit + 1 once every alignment costs more than the limit.
 */
function measureEditDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) {
    return limit + 1;
  }

  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);

  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    let rowMinimum = i;

    for (let j = 1; j <= b.length; j += 1) {
      const substitution = a.charAt(i - 1) === b.charAt(j - 1) ? 0 : 1;
      let cost = Math.min(
        (previous[j] ?? Infinity) + 1,
        (current[j - 1] ?? Infinity) + 1,
        (previous[j - 1] ?? Infinity) + substitution,
      );

      const isSwap =
        i > 1 &&
        j > 1 &&
        a.charAt(i - 1) === b.charAt(j - 2) &&
        a.charAt(i - 2) === b.charAt(j - 1);
      if (isSwap) {
        cost = Math.min(cost, (beforePrevious[j - 2] ?? Infinity) + 1);
      }

      current.push(cost);
      rowMinimum = Math.min(rowMinimum, cost);
    }

    if (rowMinimum > limit) {
      return limit + 1;
    }
    beforePrevious = previous;
    previous = current;
  }

  return Math.min(previous[b.length] ?? Infinity, limit + 1);
}

function splitDomain(domain: string): SplitDomain {
  const dot = domain.indexOf('.');
  if (dot === -1) {
    return { name: domain, suffix: '' };
  }
  return { name: domain.slice(0, dot), suffix: domain.slice(dot + 1) };
}
