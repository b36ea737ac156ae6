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

  getDomainFact(domain: string, kind: DomainFactKind, now: number): Promise<DomainFact | null>;
  putDomainFact(domain: string, kind: DomainFactKind, fact: DomainFact): Promise<void>;

  close(): Promise<void>;
}
