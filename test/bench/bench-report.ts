/**
 * The figures of `npm run bench`: a table of the two ways side by side,
 * the agreement of their verdicts, and a PASS/FAIL line per target.
 */
import type { BulkStats } from '../../src/engine/bulk-verifier.js';
import type { Reason, Verdict } from '../../src/verify/types.js';
import { formatTable, megabytes, passOrFail } from './bench-measure.js';
import type { BenchWorld, ServerTotals } from './bench-world.js';

const TARGET_SPEEDUP = 20;
const TARGET_ADDRESSES_PER_SECOND = 1_000;
const MAX_EXAMPLES = 5;

export interface Answer {
  verdict: Verdict;
  reason: Reason;
}

export interface RunFigures {
  name: string;
  wallMs: number;
  startRssBytes: number;
  peakRssBytes: number;
  server: ServerTotals;
  /** Email to answer; missing for an address that got none. */
  answers: Map<string, Answer>;
}

export interface BenchRuns {
  naive: RunFigures;
  engine: RunFigures;
  engineStats: BulkStats | null;
  /** verifyAddress over a sample of the same addresses. */
  sample: Map<string, Answer>;
  /** The engine's cap on refused RCPTs per session. */
  rejectedCap: number;
  /** The engine's cap on sessions open at once to one server. */
  perHostCap: number;
  /** Sessions (engine) or addresses (naive) at a time, both ways alike. */
  concurrency: number;
}

interface Agreement {
  isEqual: boolean;
  summary: string;
  examples: string[];
}

export function formatBenchReport(
  world: BenchWorld,
  addresses: readonly string[],
  runs: BenchRuns,
): string[] {
  const { naive, engine } = runs;
  const rate = (run: RunFigures) => addresses.length / (run.wallMs / 1000);
  const speedup = rate(engine) / rate(naive);
  const truth = compareWithTruth(world, addresses, engine);
  const withNaive = compareWithNaive(world, addresses, runs);
  const withSample = compareWithSample(runs);
  const isAllAnswered = engine.answers.size === addresses.length;
  const peakRejected = engine.server.peakRejectedInSession;
  const peakSessions = engine.server.peakOpenSessions;
  const peakAll = Math.max(engine.server.peakOpenAtAllServers, naive.server.peakOpenAtAllServers);

  return [
    '',
    ...formatFigures(world, addresses, runs),
    '',
    `engine/naive addresses per second: ${speedup.toFixed(1)}x`,
    ...[truth, withNaive, withSample].flatMap((found) => [found.summary, ...found.examples]),
    '',
    passOrFail(
      speedup >= TARGET_SPEEDUP,
      `engine >= ${TARGET_SPEEDUP}x naive (${speedup.toFixed(1)}x)`,
    ),
    passOrFail(
      rate(engine) >= TARGET_ADDRESSES_PER_SECOND,
      `engine >= ${TARGET_ADDRESSES_PER_SECOND} addresses/s (${rate(engine).toFixed(1)})`,
    ),
    passOrFail(
      withNaive.isEqual && withSample.isEqual && isAllAnswered,
      'verdicts equal (naive on plain domains, verifyAddress on the sample)',
    ),
    passOrFail(
      peakRejected <= runs.rejectedCap,
      `no session over the rejected cap of ${runs.rejectedCap} ` +
        `(server side peak ${peakRejected})`,
    ),
    passOrFail(
      peakSessions <= runs.perHostCap,
      `no server saw more than ${runs.perHostCap} sessions at once ` +
        `(server side peak ${peakSessions})`,
    ),
    passOrFail(
      peakAll <= runs.concurrency,
      `neither way had more than ${runs.concurrency} sessions open at the servers ` +
        `(server side peak ${peakAll})`,
    ),
    '',
  ];
}

function formatFigures(world: BenchWorld, addresses: readonly string[], runs: BenchRuns) {
  const total = addresses.length;
  const perAddress = (count: number) => (count / total).toFixed(3);
  const row = (label: string, value: (run: RunFigures) => string | number) => [
    label,
    String(value(runs.naive)),
    String(value(runs.engine)),
  ];

  const table = formatTable(
    ['', 'naive', 'engine'],
    [
      row('addresses answered', (run) => `${run.answers.size}/${total}`),
      row('wall time (s)', (run) => (run.wallMs / 1000).toFixed(2)),
      row('addresses per second', (run) => (total / (run.wallMs / 1000)).toFixed(1)),
      row('SMTP connections per address', (run) => perAddress(run.server.connections)),
      row('SMTP commands per address', (run) => perAddress(run.server.commands)),
      row('RCPTs per address', (run) => perAddress(run.server.rcpts)),
      row('refused RCPTs per address', (run) => perAddress(run.server.rejectedRcpts)),
      row('peak RSS of the process (MB)', (run) => megabytes(run.peakRssBytes)),
      row('  growth during the run (MB)', (run) => megabytes(run.peakRssBytes - run.startRssBytes)),
      row('peak rejected RCPTs in one session', (run) => run.server.peakRejectedInSession),
      row('peak sessions at one server', (run) => run.server.peakOpenSessions),
      row('peak sessions at all servers', (run) => run.server.peakOpenAtAllServers),
      row('sessions slowed at 10 errors', (run) => run.server.slowedSessions),
      row('sessions dropped at 20 errors', (run) => run.server.droppedSessions),
      row(
        'verdicts as the world has them',
        (run) => `${countTruthful(world, addresses, run.answers)}/${total}`,
      ),
    ],
  );

  const notes = [
    'Counts are the servers\u2019 own; RSS is this process: the world runs in a child process of its own.',
  ];
  const stats = runs.engineStats;
  if (stats) {
    notes.push(
      `The engine's own count: ${stats.connections} connections, ${stats.commands} ` +
        `commands, ${stats.rcpts} RCPTs for ${stats.addresses} addresses.`,
    );
  }
  for (const run of [runs.naive, runs.engine]) {
    if (run.server.dataCommands > 0) {
      notes.push(`WARNING: the ${run.name} way sent DATA ${run.server.dataCommands} times.`);
    }
  }
  return [...table, '', ...notes];
}

function countTruthful(
  world: BenchWorld,
  addresses: readonly string[],
  answers: Map<string, Answer>,
): number {
  return addresses.filter((email) => isSameAnswer(answers.get(email), world.truthOf(email))).length;
}

/** Informative: the world knows each mailbox, so a wrong engine verdict shows here. */
function compareWithTruth(world: BenchWorld, addresses: readonly string[], run: RunFigures) {
  const differing = addresses.filter(
    (email) => !isSameAnswer(run.answers.get(email), world.truthOf(email)),
  );
  return agreement(
    `engine = the world's truth: ${addresses.length - differing.length}/${addresses.length}`,
    differing,
    (email) => [world.truthOf(email), run.answers.get(email)],
    ['world', 'engine'],
  );
}

/** Catch-all and greylisting domains are where the naive way is meant to differ. */
function compareWithNaive(world: BenchWorld, addresses: readonly string[], runs: BenchRuns) {
  const plain = addresses.filter((email) => world.truthOf(email).kind === 'plain');
  const differing = plain.filter(
    (email) => runs.naive.answers.get(email)?.verdict !== runs.engine.answers.get(email)?.verdict,
  );
  return agreement(
    `naive = engine on plain domains: ${plain.length - differing.length}/${plain.length}`,
    differing,
    (email) => [runs.naive.answers.get(email), runs.engine.answers.get(email)],
    ['naive', 'engine'],
  );
}

function compareWithSample(runs: BenchRuns): Agreement {
  const sampled = [...runs.sample.keys()];
  const differing = sampled.filter(
    (email) => !isSameAnswer(runs.sample.get(email), runs.engine.answers.get(email)),
  );
  const agreeing = sampled.length - differing.length;
  return agreement(
    `engine = verifyAddress on the sample: ${agreeing}/${sampled.length}`,
    differing,
    (email) => [runs.sample.get(email), runs.engine.answers.get(email)],
    ['verifyAddress', 'engine'],
  );
}

function isSameAnswer(left: Answer | undefined, right: Answer | undefined): boolean {
  return (
    left !== undefined &&
    right !== undefined &&
    left.verdict === right.verdict &&
    left.reason === right.reason
  );
}

function agreement(
  summary: string,
  differing: string[],
  answersOf: (email: string) => (Answer | undefined)[],
  names: string[],
): Agreement {
  const show = (answer: Answer | undefined) =>
    answer ? `${answer.verdict}/${answer.reason}` : 'no answer';
  const examples = differing.slice(0, MAX_EXAMPLES).map((email) => {
    const answers = answersOf(email).map((answer, index) => `${names[index]} ${show(answer)}`);
    return `  differs: ${email}: ${answers.join(', ')}`;
  });
  return { isEqual: differing.length === 0, summary, examples };
}
