/**
 * Persistence behind one asynchronous interface, in domain terms. SQLite is
 * the embedded implementation; callers never see SQL (DESIGN.md, "Store").
 */
import type { VerificationResult, Verdict } from '../verify/types.js';

/** Seconds each verdict stays fresh once stored. */
export type Lifetimes = Record<Verdict, number>;

export interface StoredResult {
  result: VerificationResult;
  storedAt: number;
  expiresAt: number;
}

/** An expired result and the address it is stored under. */
export interface ExpiredResult extends StoredResult {
  address: string;
}

export type DomainFactKind = 'catch_all';

export interface DomainFact {
  value: boolean;
  expiresAt: number;
}

export interface ResultStore {
  /** A stored result for the normalized address, fresh or not, or null. */
  getResult(normalized: string): Promise<StoredResult | null>;

  /**
   * Stores a result with the lifetime of its verdict. Returns false, and
   * keeps the old row, when the new result is unknown and a fresh definite
   * one is already stored: a passing fault must not erase a known fact.
   */
  putResult(normalized: string, result: VerificationResult, now: number): Promise<boolean>;

  /**
   * Up to `limit` results whose lifetime ended at or before `now`, the
   * longest expired first: what a re-verification pass works through.
   */
  listExpired(now: number, limit: number): Promise<ExpiredResult[]>;

  getDomainFact(domain: string, kind: DomainFactKind, now: number): Promise<DomainFact | null>;
  putDomainFact(domain: string, kind: DomainFactKind, fact: DomainFact): Promise<void>;

  close(): Promise<void>;
}
