/**
 * GET /healthz (store reachable, listeners up) and GET /metrics (Prometheus text) on the console
 * listener, for the institution's monitoring. Both are unauthenticated and carry aggregate numbers
 * only — no host names, no event data.
 */
import type { App } from '../../../http/app.js';
import type { ServerContext } from '../../../context.js';

export function opsRoutes(app: App, ctx: ServerContext): void {
  app.get('/healthz', async (_req, reply) => {
    const t0 = performance.now();
    try {
      await ctx.store.changeStamp();
    } catch (e) {
      return reply.code(503).send({ status: 'unavailable', store: ctx.store.kind, error: (e as Error).message.slice(0, 200) });
    }
    return { status: 'ok', store: ctx.store.kind, storeLatencyMs: Math.round((performance.now() - t0) * 10) / 10, connectedAgents: ctx.revocations.connections };
  });
  app.get('/metrics', async (_req, reply) => {
    const text = ctx.metrics?.render({
      connectedAgents: ctx.revocations.connections, inflightEvents: ctx.admission?.inflightEvents ?? 0,
      hosts: (await ctx.store.listHosts()).length, alerts: (ctx.alertStats?.() as { queued: number; sent: number; deadLettered: number } | undefined) ?? null,
    }) ?? '';
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
}
