/** GET /api/reports/monthly?month=YYYY-MM&format=html|csv|json (art23). */
import { TgError } from '../../../../shared/errors.js';
import type { ServerContext } from '../../../context.js';
import { REPORT_CSP } from '../../../reports/html.js';
import { monthlyJson, renderMonthlyCsv, renderMonthlyHtml, validateMonth } from '../../../reports/monthly.js';
import { buildMonthlyData } from '../../../reports/monthly-data.js';
import { audit } from '../../../auth/session.js';
import { query, who } from './common.js';
import type { RouteDef } from './index.js';

export function reportRoutes(ctx: ServerContext): RouteDef[] {
  return [{
    method: 'GET', url: '/api/reports/monthly', perm: 'reports.read', summary: 'monthly report (art23): ?month=YYYY-MM&format=html|csv|json',
    handler: async (req, reply) => {
      const q = query(req);
      const month = q.month ?? '';
      if (!validateMonth(month)) throw new TgError('TG_E_BAD_REQUEST', 'month: YYYY-MM');
      const format = q.format ?? 'html';
      if (!['html', 'csv', 'json'].includes(format)) throw new TgError('TG_E_BAD_REQUEST', 'format: html, csv or json');
      const data = await buildMonthlyData(ctx, month);
      await audit(ctx, who(req).user, 'report.monthly', month, { format });
      const name = `termguard-report-${month}.${format}`;
      void reply.header('content-disposition', `${format === 'html' ? 'inline' : 'attachment'}; filename="${name}"`).header('x-content-type-options', 'nosniff');
      if (format === 'html') return reply.type('text/html; charset=utf-8').header('content-security-policy', REPORT_CSP).send(renderMonthlyHtml(data));
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(renderMonthlyCsv(data));
      return reply.type('application/json; charset=utf-8').send(monthlyJson(data));
    },
  }];
}
