/** `termguard-agent check` output: a table a person reads at a terminal, and a summary. */
import type { CheckResult } from './types.js';

export function summarise(results: CheckResult[]): { pass: number; fail: number; not_applicable: number; error: number } {
  const s = { pass: 0, fail: 0, not_applicable: 0, error: 0 };
  for (const r of results) s[r.status]++;
  return s;
}

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', fail: 'FAIL', not_applicable: 'N/A ', error: 'ERR ' };

/** One line per check; failures and errors carry their reason and remediation on the next lines. */
export function formatTable(results: CheckResult[], width = 100): string {
  const idW = Math.min(44, Math.max(...results.map((r) => r.id.length), 5));
  const lines = [`${'STATUS'.padEnd(6)} ${'CHECK'.padEnd(idW)} TITLE`];
  for (const r of results) {
    lines.push(`${MARK[r.status].padEnd(6)} ${r.id.padEnd(idW)} ${r.title.en}`.slice(0, width));
    if (r.status === 'fail' || r.status === 'error') {
      if (r.reason) lines.push(`${' '.repeat(7 + idW)} why: ${r.reason}`);
      if (r.status === 'fail') lines.push(`${' '.repeat(7 + idW)} fix: ${r.remediation.en}`);
    }
  }
  const s = summarise(results);
  lines.push('', `${results.length} checks: ${s.pass} pass, ${s.fail} fail, ${s.not_applicable} not applicable, ${s.error} error`);
  return lines.join('\n') + '\n';
}
