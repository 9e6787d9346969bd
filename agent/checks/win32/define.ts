/** Small helpers shared by the win32 check files: the CheckDef defaults and outcome builders. */
import type { CheckContext, CheckDef, CheckOutcome } from '../types.js';

export type Win32CheckSpec = Omit<CheckDef, 'os' | 'profiles' | 'articles'> & { articles?: string[]; profiles?: string[] };

export function check(spec: Win32CheckSpec): CheckDef {
  return { ...spec, os: 'win32', articles: spec.articles ?? ['art9', 'art31'], profiles: spec.profiles ?? ['mlps3'] };
}

export const pass = (evidence: Record<string, unknown>): CheckOutcome => ({ status: 'pass', evidence });
export const fail = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'fail', evidence, reason });
export const notApplicable = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'not_applicable', evidence, reason });
export const error = (evidence: Record<string, unknown>, reason: string): CheckOutcome => ({ status: 'error', evidence, reason });

export type Run = (ctx: CheckContext) => Promise<CheckOutcome>;

export const DAY_MS = 86_400_000;

export function ageDays(then: Date, now: Date): number {
  return Math.floor((now.getTime() - then.getTime()) / DAY_MS);
}
