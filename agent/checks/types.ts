/**
 * Hardening checks (art9: MLPS 2.0 level 3 "secure computing environment"; art31). A check is a
 * spec (id, bilingual title, articles, MLPS item, remediation) plus a `run` that reads files under
 * the context's roots or runs commands through its runner — never anything else — so every check
 * runs against pass and fail fixtures in tests.
 */
import type { Runner } from '../exec.js';

export type CheckStatus = 'pass' | 'fail' | 'not_applicable' | 'error';
export type OsFamily = 'linux' | 'win32' | 'darwin';

export interface Bilingual {
  en: string;
  zh: string;
}

/** What one check found: a status and the evidence behind it (values read, files, command output lines). */
export interface CheckOutcome {
  status: CheckStatus;
  /** Short, factual: what was read and where, e.g. { file: '/etc/login.defs', PASS_MAX_DAYS: 99999 }. */
  evidence: Record<string, unknown>;
  /** One line a person can act on, for fail / not_applicable / error. */
  reason?: string;
}

export interface CheckContext {
  os: OsFamily;
  /** Filesystem root for reads (tests: a fixture tree). Paths in checks are joined under it. */
  root: string;
  procfs: string;
  sysfs: string;
  run: Runner;
  /** Read a text file under `root`; null if missing. Capped; never follows symlinks out of root. */
  readFile(path: string): Promise<string | null>;
  /** List a directory under `root`; [] if missing. */
  listDir(path: string): Promise<string[]>;
  now: Date;
}

export interface CheckDef {
  /** Stable id: `<os>.<area>.<item>`, e.g. `linux.pam.minlen`. */
  id: string;
  os: OsFamily;
  title: Bilingual;
  /** Regulation articles evidenced, e.g. ['art9', 'art31']. */
  articles: string[];
  /** The MLPS 2.0 level-3 control this evidences (GB/T 22239-2019 clause and topic). */
  mlps: string;
  remediation: Bilingual;
  /** Profiles that include it; `mlps3` is the default profile. */
  profiles: string[];
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

export interface CheckResult {
  id: string;
  status: CheckStatus;
  title: Bilingual;
  articles: string[];
  mlps: string;
  evidence: Record<string, unknown>;
  reason?: string;
  remediation: Bilingual;
  durationMs: number;
}
