/**
 * Offline hosts (art31): a host whose agent has sent nothing for 3 heartbeat intervals, and whose
 * last word was not `agent.stopped`, gets a server-made `agent.offline` event, and the rule raises
 * one high violation from it. The event id is derived from the host and its last lifecycle event,
 * so every server process sharing the store makes the same id for one offline spell: the event is
 * stored once and the violation (keyed by event id) raised and forwarded once. When the host is
 * heard from again, the spell's open violation is resolved by the server with a note saying when.
 */
import { createHash } from 'node:crypto';
import type { AgentEvent, StoredEvent } from '../shared/events.js';
import type { ServerContext } from './context.js';
import { storeServerEvent } from './violations.js';

/** Heartbeats missed before a host counts as offline. */
export const MISSED_HEARTBEATS = 3;
/** What a heartbeat interval is taken to be when the agent did not say (older agents; the agent default). */
export const DEFAULT_HEARTBEAT_SECONDS = 60;
const LIFECYCLE = ['agent.heartbeat', 'agent.started', 'agent.stopped'];
/** The events route refreshes a host's last_seen at most this often, so last_seen may lag by that much. */
const LAST_SEEN_LAG_MS = 10_000;
/** A learnt heartbeat interval is looked up again after this long (the agent's config may change). */
const INTERVAL_TTL_MS = 10 * 60_000;
const RESOLVER = 'termguard';

/** A UUID (version 8, RFC 9562 custom) from a name: the same spell gives the same id in every process. */
export function spellId(hostId: string, lastEventId: string): string {
  const h = createHash('sha256').update(`agent.offline\0${hostId}\0${lastEventId}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function intervalOf(e: StoredEvent): number {
  const v = e.data.intervalSeconds;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : DEFAULT_HEARTBEAT_SECONDS;
}

export class OfflineWatch {
  /** hostId → heartbeat interval (s) and when it was learnt. */
  private readonly intervals = new Map<string, { seconds: number; at: number }>();
  /** hostId → its last_seen when it was found stopped or already raised: nothing new until that changes. */
  private readonly settled = new Map<string, string>();
  private running = false;

  constructor(private readonly ctx: ServerContext) {}

  /** One pass: raise offline spells, resolve the ones whose host is back. Returns what it did. */
  async check(now = new Date()): Promise<{ raised: string[]; resolved: string[] }> {
    if (this.running) return { raised: [], resolved: [] };
    this.running = true;
    try {
      const hosts = (await this.ctx.store.listHosts()).filter((h) => h.status === 'active' && h.lastSeen);
      const raised: string[] = [];
      let queried = 0;
      for (const h of hosts) {
        if (this.settled.get(h.id) === h.lastSeen) continue;
        this.settled.delete(h.id);
        const known = this.intervals.get(h.id);
        const lastSeen = Date.parse(h.lastSeen!);
        // Cheap pre-filter on last_seen; only a host quiet for (almost) 3 intervals costs a query.
        if (known && now.getTime() - known.at < INTERVAL_TTL_MS
          && now.getTime() - lastSeen <= known.seconds * 1000 * MISSED_HEARTBEATS - LAST_SEEN_LAG_MS) continue;
        // A store whose calls run on this thread (SQLite) would hold the event loop for the whole pass
        // over a large fleet (every host is looked up once when the server starts): let I/O in between.
        if (++queried % 25 === 0) await new Promise((r) => setImmediate(r));
        const [last] = await this.ctx.store.queryEvents({ host: h.id, types: LIFECYCLE, latest: true, limit: 1 });
        if (!last) continue; // never heard a lifecycle event: nothing to miss yet
        const seconds = intervalOf(last);
        this.intervals.set(h.id, { seconds, at: now.getTime() });
        if (last.type === 'agent.stopped') { // a clean stop: said so, not missing
          this.settled.set(h.id, h.lastSeen!);
          continue;
        }
        const lastContact = Math.max(lastSeen, Date.parse(last.receivedAt));
        const silentMs = now.getTime() - lastContact;
        if (silentMs <= seconds * 1000 * MISSED_HEARTBEATS) continue;
        const id = spellId(h.id, last.id);
        this.settled.set(h.id, h.lastSeen!);
        if (await this.ctx.store.getEvent(id)) continue; // this spell is already raised (here or by another process)
        const event: AgentEvent = {
          id, type: 'agent.offline', time: now.toISOString(), severity: 'high', articles: ['art31'],
          data: {
            source: 'server', lastContact: new Date(lastContact).toISOString(), lastEvent: { id: last.id, type: last.type, time: last.time },
            intervalSeconds: seconds, missedHeartbeats: Math.floor(silentMs / (seconds * 1000)),
          },
        };
        await storeServerEvent(this.ctx, h.id, event, now);
        raised.push(h.id);
        this.ctx.log.warn({ host: h.id, lastContact: event.data.lastContact, intervalSeconds: seconds }, 'host offline: missed heartbeats');
      }
      const resolved = await this.resolveReturned(hosts.map((h) => ({ id: h.id, lastSeen: h.lastSeen! })), now);
      return { raised, resolved };
    } finally {
      this.running = false;
    }
  }

  /** Open offline violations whose host has been seen since: resolved (once, by whichever process gets there first). */
  private async resolveReturned(hosts: { id: string; lastSeen: string }[], now: Date): Promise<string[]> {
    const open = await this.ctx.store.listViolations({ type: 'agent.offline', state: 'unresolved', limit: 1000 });
    if (!open.total) return [];
    const seen = new Map(hosts.map((h) => [h.id, h.lastSeen]));
    const done: string[] = [];
    for (const v of open.items) {
      const back = seen.get(v.hostId);
      if (!back || back <= v.createdAt) continue;
      const note = { at: now.toISOString(), by: RESOLVER, text: `host reported again at ${back}; resolved by the server` };
      const ok = await this.ctx.store.updateViolation(v.id, {
        state: 'resolved', resolvedAt: now.toISOString(), resolvedBy: RESOLVER, notes: [...v.notes, note],
      }, ['open', 'acknowledged']);
      if (ok) done.push(v.id);
    }
    return done;
  }

  /** Check every `everyMs`; returns a stop function. */
  start(everyMs: number): () => void {
    const tick = () => void this.check().catch((err: unknown) => this.ctx.log.warn({ err }, 'offline check failed'));
    const t = setInterval(tick, everyMs);
    t.unref();
    return () => clearInterval(t);
  }
}
