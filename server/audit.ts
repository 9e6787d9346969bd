/**
 * The append-only audit log (art11, 三员分立 auditors): every change a person makes — policy, user,
 * token, violation state, exception, revoke — is one row whose hash covers the previous row's
 * hash and the row's own fields (RFC 8785 canonical JSON), so a modified, deleted or reordered row
 * breaks every hash after it.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from '../shared/canonical.js';
import type { AuditRow } from './store/types.js';

export const AUDIT_GENESIS = '0'.repeat(64);

export function auditHash(prevHash: string, e: { seq: number; time: string; actor: string; action: string; target: string | null; details: Record<string, unknown> }): string {
  const body = canonicalize({ seq: e.seq, time: e.time, actor: e.actor, action: e.action, target: e.target, details: e.details });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/** Walk the chain; the first broken row is named. Rows must be in seq order, starting at the first. */
export function verifyAuditChain(rows: AuditRow[]): { ok: true; rows: number; head: string } | { ok: false; seq: number; reason: string } {
  let prev = AUDIT_GENESIS;
  let expectSeq = 1;
  for (const r of rows) {
    if (r.seq !== expectSeq) return { ok: false, seq: expectSeq, reason: `row ${expectSeq} is missing` };
    if (r.prevHash !== prev) return { ok: false, seq: r.seq, reason: `row ${r.seq} does not follow row ${r.seq - 1}` };
    if (auditHash(prev, r) !== r.hash) return { ok: false, seq: r.seq, reason: `row ${r.seq} was modified` };
    prev = r.hash;
    expectSeq++;
  }
  return { ok: true, rows: rows.length, head: prev };
}
