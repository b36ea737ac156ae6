/**
 * The "Verify email" custom workflow action. HubSpot waits a few seconds
 * for an answer; a result known by then is answered at once, otherwise the
 * action answers BLOCK and completes later through the callbacks API.
 * Retries of one callback id share one verification and one completion, also
 * across restarts and processes: the store remembers the callback ids, with
 * what each one asked. A callback whose process ended before completing it
 * is taken over, once its claim is stale, by whichever process sweeps first.
 * https://developers.hubspot.com/docs/api/automation/custom-workflow-actions
 */
import type { Logger } from 'pino';
import { z } from 'zod';

import type {
  BulkVerifier,
  CallbackRequest,
  Clock,
  HubspotStore,
  UnfinishedCallback,
  VerificationResult,
} from '../../src/index.js';
import type { PortalRegistry } from './portal-registry.js';
import { answerOf } from './provision-properties.js';

/** Kept in step with manifest/hubspot (a test checks it). */
export const ACTION_OUTPUT_FIELDS = ['status', 'reason', 'score'] as const;
export const ACTION_INPUT_FIELD = 'email';

/** Well under HubSpot's timeout for an action's answer. */
const ANSWER_WITHIN_MS = 3_000;
/** A blocked action waits this long (ISO 8601 duration) before HubSpot gives up. */
const BLOCK_EXPIRATION = 'P1D';
const BLOCK_EXPIRATION_MS = 86_400_000;
/**
 * An accepted callback not completed for this long is taken over: longer
 * than one verification takes with the default greylisting retries (60 and
 * 240 s) and timeouts, so a live process keeps the callbacks it works on.
 */
export const CALLBACK_CLAIM_MS = 15 * 60_000;
/** Callbacks taken over in one sweep. */
const RESUMED_PER_SWEEP = 100;
const MAX_REMEMBERED = 10_000;
/** Callback ids are kept twice as long as a blocked action waits. */
const CALLBACK_MEMORY_MS = 2 * 86_400_000;

const requestSchema = z.looseObject({
  callbackId: z.string().min(1).max(200),
  origin: z.looseObject({ portalId: z.union([z.number(), z.string()]) }),
  object: z
    .looseObject({ properties: z.record(z.string(), z.string().nullable()).optional() })
    .optional(),
  inputFields: z.record(z.string(), z.unknown()).optional(),
});

export type ActionAnswer = { ok: true; body: unknown } | { ok: false; problem: string };

export interface WorkflowAction {
  handle(body: unknown): Promise<ActionAnswer>;
  /**
   * Verifies and completes the callbacks that a process (this one before a
   * restart, or another sharing the store) accepted and never completed;
   * answers how many were taken over.
   */
  resumeUnfinished(): Promise<number>;
}

export interface WorkflowActionDeps {
  verifier: Pick<BulkVerifier, 'verify'>;
  registry: PortalRegistry;
  store: Pick<
    HubspotStore,
    'acceptCallback' | 'claimUnfinishedCallbacks' | 'completeCallback' | 'pruneCallbacks'
  >;
  clock: Clock;
  logger: Logger;
  answerWithinMs?: number;
}

interface Execution {
  /** Null when the callback was accepted before, by another process or run. */
  result: Promise<VerificationResult | null>;
  isCompletionSent: boolean;
}

export function createWorkflowAction(deps: WorkflowActionDeps): WorkflowAction {
  const executions = new Map<string, Execution>();
  const answerWithinMs = deps.answerWithinMs ?? ANSWER_WITHIN_MS;

  const remember = (callbackId: string, execution: Execution) => {
    executions.set(callbackId, execution);
    // A failed start is forgotten here; the stored id still stops a second run.
    execution.result.catch(() => executions.delete(callbackId));
    if (executions.size > MAX_REMEMBERED) {
      executions.delete(executions.keys().next().value as string);
    }
  };

  const executionOf = (callbackId: string, request: CallbackRequest) => {
    let execution = executions.get(callbackId);
    if (!execution) {
      execution = { result: verifyOnce(deps, callbackId, request), isCompletionSent: false };
      remember(callbackId, execution);
    }
    return execution;
  };

  /** A completion that failed leaves the callback to a later sweep. */
  const complete = (portalId: string, callbackId: string, execution: Execution) => {
    void completeLater(deps, portalId, callbackId, execution).then((isDone) => {
      if (!isDone && executions.get(callbackId) === execution) executions.delete(callbackId);
    });
  };

  const resume = (callback: UnfinishedCallback) => {
    if (executions.has(callback.callbackId)) return false;
    const execution = { result: deps.verifier.verify(callback.email), isCompletionSent: true };
    remember(callback.callbackId, execution);
    complete(callback.portalId, callback.callbackId, execution);
    return true;
  };

  return {
    async handle(body) {
      const parsed = requestSchema.safeParse(body);
      if (!parsed.success) return { ok: false, problem: 'not a workflow action request' };
      const request = parsed.data;
      const email = String(
        request.inputFields?.[ACTION_INPUT_FIELD] ?? request.object?.properties?.email ?? '',
      );

      const portalId = String(request.origin.portalId);
      const execution = executionOf(request.callbackId, { portalId, email });
      const result = await Promise.race([
        execution.result,
        deps.clock.sleep(answerWithinMs).then(() => 'late' as const),
      ]);
      if (result === null) return { ok: true, body: blockedAnswer() };
      if (result !== 'late') {
        await markCompleted(deps, request.callbackId);
        return { ok: true, body: { outputFields: outputFieldsOf(result) } };
      }

      if (!execution.isCompletionSent) {
        execution.isCompletionSent = true;
        complete(portalId, request.callbackId, execution);
      }
      return { ok: true, body: blockedAnswer() };
    },

    async resumeUnfinished() {
      const now = deps.clock.now();
      const unfinished = await deps.store.claimUnfinishedCallbacks({
        claimedBefore: now - CALLBACK_CLAIM_MS,
        acceptedAfter: now - BLOCK_EXPIRATION_MS,
        now,
        limit: RESUMED_PER_SWEEP,
      });
      const resumed = unfinished.filter(resume).length;
      if (resumed > 0)
        deps.logger.info({ resumed }, 'workflow action: unfinished callbacks resumed');
      return resumed;
    },
  };
}

/**
 * Verifies unless the store already knows the callback id: a HubSpot retry
 * after a restart, or one that reached another process sharing the store.
 */
async function verifyOnce(
  deps: WorkflowActionDeps,
  callbackId: string,
  request: CallbackRequest,
): Promise<VerificationResult | null> {
  const now = deps.clock.now();
  const earlier = await deps.store.acceptCallback(callbackId, now, request);
  if (earlier !== null) {
    // Completed already, or being verified elsewhere: resumeUnfinished takes
    // it over if the process that accepted it ended first.
    deps.logger.info({ callbackId, earlier }, 'workflow action: callback already accepted');
    return null;
  }

  deps.store.pruneCallbacks(now - CALLBACK_MEMORY_MS).catch((error: unknown) => {
    deps.logger.warn({ err: error }, 'hubspot callback ids not pruned');
  });
  return deps.verifier.verify(request.email);
}

function blockedAnswer() {
  const outputFields = {
    hs_execution_state: 'BLOCK',
    hs_expiration_duration: BLOCK_EXPIRATION,
  };
  return { outputFields };
}

function outputFieldsOf(result: VerificationResult) {
  return {
    status: result.verdict,
    reason: result.reason,
    score: result.score,
    hs_execution_state: 'SUCCESS',
  };
}

/** Sends the result to HubSpot; answers whether it got there. */
async function completeLater(
  deps: WorkflowActionDeps,
  portalId: string,
  callbackId: string,
  execution: Execution,
): Promise<boolean> {
  try {
    const result = await execution.result;
    if (!result) return true;
    const portal = await deps.registry.connect(portalId);
    if (!portal) {
      deps.logger.warn({ portalId, callbackId }, 'workflow action: portal not connected');
      return false;
    }
    await portal.limiter.call('standard', () =>
      answerOf(
        portal.client.automation.actions.callbacksApi.completeWithHttpInfo(callbackId, {
          outputFields: outputFieldsOf(result) as unknown as Record<string, string>,
        }),
      ),
    );
  } catch (error) {
    // The sweep tries again once the claim is stale, until HubSpot's
    // block expiration; the log says why this one failed.
    execution.isCompletionSent = false;
    deps.logger.error({ err: error, portalId, callbackId }, 'workflow action completion failed');
    return false;
  }

  await markCompleted(deps, callbackId);
  return true;
}

/** The result reached HubSpot already; a failed mark only costs a log line. */
async function markCompleted(deps: WorkflowActionDeps, callbackId: string): Promise<void> {
  await deps.store.completeCallback(callbackId).catch((error: unknown) => {
    deps.logger.warn({ err: error, callbackId }, 'hubspot callback not marked completed');
  });
}
