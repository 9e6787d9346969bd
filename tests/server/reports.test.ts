/** Everything an agent reported is untrusted text: the attestation rendering keeps it inert. */
import { describe, it, expect } from 'vitest';
import { renderAttestationHtml } from '../../server/reports/attestation.js';
import { esc } from '../../server/reports/html.js';
import type { AttestationBody } from '../../shared/attestation.js';

const hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>';

const body: AttestationBody = {
  kind: 'termguard.attestation', version: 1, hostId: 'h-1', hostname: hostile, time: '2026-11-25T00:00:00.000Z', agentVersion: '0.1.0',
  os: 'Debian 12', policyVersion: 2, policyDigest: 'sha256:00', profile: 'mlps3', summary: { pass: 0, fail: 1, not_applicable: 0, error: 0 },
  checks: [{ id: 'linux.x.y', status: 'fail', title: { en: hostile, zh: '测试' }, articles: ['art9'], mlps: '8.1.4.1', evidence: { file: hostile }, reason: hostile }],
  inventoryDigest: 'sha256:11', fieldDigests: {},
};

describe('attestation HTML', () => {
  it('escapes every agent string and forbids scripts by policy', () => {
    const html = renderAttestationHtml(body, { ok: false, problems: [hostile], caHash: 'sha256:22' });
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain("default-src 'none'");
    expect(html).toContain('验证失败');
  });
  it('escapes all HTML-significant characters', () => {
    expect(esc(`<>&"'\``)).toBe('&lt;&gt;&amp;&quot;&#39;&#96;');
  });
});
