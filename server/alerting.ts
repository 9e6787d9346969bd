/** Wires alert forwarding into the server: new and newly overdue violations go to the configured targets. */
import { AlertForwarder, validateAlertConfig, type AlertConfig, type AlertMessage } from './alerts/index.js';
import type { ServerContext } from './context.js';
import { consoleUrl } from './config.js';
import type { HostRow, ViolationDraft, ViolationRow } from './store/types.js';

export async function startAlerting(ctx: ServerContext): Promise<() => Promise<void>> {
  const checked = validateAlertConfig((await ctx.store.getSetting('alerts')) ?? {});
  if (!checked.ok) ctx.log.warn({ error: checked.error }, 'stored alert settings are invalid; alerts are off until they are fixed');
  const fwd = new AlertForwarder(checked.ok ? checked.config : {}, { log: ctx.log.child({ part: 'alerts' }) });
  const consoleBase = consoleUrl(ctx.config);
  const message = async (v: ViolationDraft | ViolationRow, overdue: boolean, hosts: Map<string, Promise<HostRow | null>>): Promise<AlertMessage> => {
    let lookup = hosts.get(v.hostId);
    if (!lookup) hosts.set(v.hostId, lookup = ctx.store.getHost(v.hostId));
    const h = await lookup;
    return {
      id: overdue ? `${v.id}:overdue` : v.id, time: v.createdAt, host: { id: v.hostId, hostname: h?.hostname ?? '?', group: h?.group ?? '?' },
      type: v.type, severity: v.severity, articles: v.articles, summary: `${overdue ? 'OVERDUE (past the rectification deadline): ' : ''}${v.summary}`,
      url: `${consoleBase}/#/violations/${encodeURIComponent(v.id)}`, drill: v.drill,
    };
  };
  const forward = (list: (ViolationDraft | ViolationRow)[], overdue: boolean) => {
    // On the ingest path (a third of a busy fleet's events may raise violations): nothing to build
    // when no target is configured, and one host lookup per host of the batch.
    if (!fwd.active) return;
    const hosts = new Map<string, Promise<HostRow | null>>();
    for (const v of list) void message(v, overdue, hosts).then((m) => fwd.send(m), (err: unknown) => ctx.log.warn({ err }, 'alert message failed'));
  };
  ctx.onViolations = (list) => forward(list, false);
  ctx.onEscalated = (list) => forward(list, true);
  ctx.validateAlerts = (raw) => validateAlertConfig(raw);
  ctx.alertsChanged = (c) => fwd.updateConfig(c as AlertConfig);
  ctx.alertStats = () => fwd.stats();
  return async () => {
    await fwd.flush(2000);
    await fwd.close();
  };
}
