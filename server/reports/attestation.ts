/** Printable, bilingual HTML of a verified attestation, for auditors (art11). Everything from the agent is escaped. */
import type { AttestationBody } from '../../shared/attestation.js';
import { esc, REPORT_CSP } from './html.js';

const STATUS: Record<string, { en: string; zh: string; cls: string }> = {
  pass: { en: 'pass', zh: '通过', cls: 'pass' },
  fail: { en: 'fail', zh: '不通过', cls: 'fail' },
  not_applicable: { en: 'n/a', zh: '不适用', cls: 'na' },
  error: { en: 'error', zh: '错误', cls: 'err' },
};

export function renderAttestationHtml(body: AttestationBody, verdict: { ok: boolean; problems: string[]; caHash: string }): string {
  const rows = body.checks.map((c) => {
    const s = STATUS[c.status] ?? STATUS.error!;
    return `<tr class="${s.cls}"><td><code>${esc(c.id)}</code></td><td>${esc(c.title.zh)}<br><span class="en">${esc(c.title.en)}</span></td>`
      + `<td>${esc(c.mlps)}</td><td>${esc(c.articles.join(', '))}</td><td class="st">${esc(s.zh)} / ${esc(s.en)}</td>`
      + `<td><pre>${esc(JSON.stringify(c.evidence, null, 1))}</pre>${c.reason ? `<div>${esc(c.reason)}</div>` : ''}</td></tr>`;
  }).join('\n');
  const v = verdict.ok
    ? `<p class="ok">签名有效 — Signature valid against CA ${esc(verdict.caHash)}</p>`
    : `<div class="bad"><p>验证失败 — Verification FAILED</p><ul>${verdict.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></div>`;
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<title>终端安全加固证明 Terminal hardening attestation — ${esc(body.hostname)}</title>
<style>
body{font:13px/1.45 system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#111}
h1{font-size:20px;margin:0 0 4px} .en{color:#555;font-size:12px} table{border-collapse:collapse;width:100%;margin-top:12px}
th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left} th{background:#eee}
pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:11px} .fail .st{color:#a00;font-weight:bold} .pass .st{color:#070}
.ok{color:#070;font-weight:bold} .bad{color:#a00;font-weight:bold;border:2px solid #a00;padding:6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px} dt{font-weight:bold}
@media print{body{margin:0} tr{page-break-inside:avoid}}
</style></head><body>
<h1>终端安全加固证明</h1><div class="en">Terminal hardening attestation — 《证联网信息安全管理规范》第九条、第十一条、第三十一条 (art9, art11, art31)</div>
${v}
<dl>
<dt>终端 Host</dt><dd>${esc(body.hostname)} (<code>${esc(body.hostId)}</code>)</dd>
<dt>时间 Time</dt><dd>${esc(body.time)}</dd>
<dt>系统 OS</dt><dd>${esc(body.os)}</dd>
<dt>代理版本 Agent</dt><dd>${esc(body.agentVersion)}</dd>
<dt>策略 Policy</dt><dd>v${esc(body.policyVersion)} <code>${esc(body.policyDigest)}</code>, profile ${esc(body.profile)}</dd>
<dt>资产摘要 Inventory digest</dt><dd><code>${esc(body.inventoryDigest)}</code></dd>
<dt>结果 Summary</dt><dd>通过 pass ${esc(body.summary.pass)} · 不通过 fail ${esc(body.summary.fail)} · 不适用 n/a ${esc(body.summary.not_applicable)} · 错误 error ${esc(body.summary.error)}</dd>
</dl>
<table><thead><tr><th>检查项 Check</th><th>名称 Title</th><th>等保条款 MLPS</th><th>条款 Articles</th><th>结果 Result</th><th>证据 Evidence</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
