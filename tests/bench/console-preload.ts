/**
 * Preloaded into the console bench's server (`node --import tsx --import this`) unless
 * BENCH_CONSOLE_REAL_START=1. It makes the start-up violation sweep's query return no rows. That
 * query (server/violations.ts sweepViolations: a type and `since`, no host, pages of 2000) is the
 * only one of that shape. On 5 M events each of its 13 queries walks the whole events_received
 * index before either listener opens, so the real start takes 8–16 min here. The bench times one
 * such query itself (console-breakdown.ts). Everything else, every console route included, runs as
 * shipped.
 */
import type { SqliteStore } from '../../server/store/sqlite.js';
import type { EventQuery } from '../../server/store/types.js';

// The URL the server itself loads, so this patches the class the server uses. (Not lib.ts: its
// signal handlers must stay out of the server process.)
const mod = (await import(new URL('../../dist/server/store/sqlite.js', import.meta.url).href)) as { SqliteStore: typeof SqliteStore };
const proto = mod.SqliteStore.prototype;
const original = proto.queryEvents;
proto.queryEvents = function (this: SqliteStore, q: EventQuery) {
  if (q.type && q.since && !q.host && !q.latest && !q.types && q.limit === 2000) return Promise.resolve([]);
  return original.call(this, q);
};
