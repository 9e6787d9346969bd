/**
 * Durability drill driver: the real AgentRuntime (compiled, from dist/) on an enrolled state folder.
 * Plain ESM over dist/ because it is restarted dozens of times per test and tsx would triple its start-up.
 *
 *   node tests/integration/drivers/agent.mjs STATE_DIR emit|drain
 *
 * Config comes from TERMGUARD_* variables (loadAgentConfig). Driver knobs:
 *   TG_DRIVER_COUNT          emit mode: stop after this many events, then shut down (default: until told)
 *   TG_DRIVER_SEVERITIES     weights, e.g. "low:70,medium:20,high:8,critical:2" (default all low)
 *   TG_DRIVER_PACE_MS        pause between emits (default none)
 *   TG_DRIVER_TRACE=1        also print what became of the agent's own events (heartbeats, collectors…)
 * stdout, one line each: `ready`, `id <uuid> <severity>` (only after emit resolved with the event on
 * disk: durably spooled), `held <uuid> <severity>` (the disk refused it; kept in memory until it takes
 * it), `dropped <uuid> <severity>` (the disk refused it; counted for agent.spool_dropped),
 * `own spooled|held|dropped <uuid> <severity> <type>` (TG_DRIVER_TRACE), `emitted <n>`, `drained`,
 * `stopped <spool depth JSON>`. stdin `drain\n`: stop emitting, drain (held and counted events too), stop.
 */
import pino from 'pino';
import { AgentRuntime } from '../../../dist/agent/run.js';
import { loadAgentConfig } from '../../../dist/agent/config.js';
import { newEvent } from '../../../dist/shared/events.js';

const [stateDir, mode] = process.argv.slice(2);
if (!stateDir || (mode !== 'emit' && mode !== 'drain')) {
  process.stderr.write('usage: agent.mjs STATE_DIR emit|drain\n');
  process.exit(2);
}
const limit = Number(process.env.TG_DRIVER_COUNT ?? Infinity);
const weights = (process.env.TG_DRIVER_SEVERITIES ?? 'low:1').split(',').map((p) => {
  const [sev, w] = p.split(':');
  return { sev, w: Number(w) };
});
const total = weights.reduce((n, x) => n + x.w, 0);
const pace = Number(process.env.TG_DRIVER_PACE_MS ?? 0);
function severity() {
  let r = Math.random() * total;
  for (const x of weights) if ((r -= x.w) < 0) return x.sev;
  return weights[0].sev;
}

const out = (line) => process.stdout.write(line + '\n');
const cfg = loadAgentConfig(undefined);
const log = pino({ level: process.env.TG_DRIVER_LOG ?? 'warn' }, pino.destination(2));
const rt = await AgentRuntime.open(stateDir, cfg, log);
const emit = rt.emit.bind(rt);
const outcome = (r, id) => (r.spooled ? 'spooled' : r.held.includes(id) ? 'held' : r.dropped.includes(id) ? 'dropped' : 'skipped');
if (process.env.TG_DRIVER_TRACE === '1') {
  // The parts call rt.emit: watch it (the real emit still does the work) to see the agent's own events.
  rt.emit = async (...events) => {
    const r = await emit(...events);
    out(events.map((e) => `own ${outcome(r, e.id)} ${e.id} ${e.severity} ${e.type}`).join('\n'));
    return r;
  };
}
// The Sender waits up to 5 s after an outage before draining (fleet stampede guard); keep flows going.

const stop = new AbortController();
let emitting = mode === 'emit';
let stdinBuf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  stdinBuf += d;
  if (stdinBuf.includes('drain\n')) emitting = false;
});
process.stdin.on('error', () => undefined);

out('ready');
const running = rt.run(stop.signal);
let failed;
running.catch((e) => { failed = e; });

let n = 0;
while (emitting && n < limit && !failed) {
  const k = Math.min(limit - n, 1 + Math.floor(Math.random() * 4));
  const events = [];
  for (let i = 0; i < k; i++) events.push(newEvent('drill', severity(), [], { n: n + i, pid: process.pid }));
  const r = await emit(...events);
  n += k;
  out(events.map((e) => {
    const o = outcome(r, e.id);
    return `${o === 'spooled' ? 'id' : o} ${e.id} ${e.severity}`;
  }).join('\n'));
  if (pace > 0) await new Promise((res) => setTimeout(res, pace));
}
if (mode === 'emit') out(`emitted ${n}`);

if (mode === 'drain' || Number.isFinite(limit) === false) {
  // Until the spool is empty (the server may be down for a while: the test bounds this).
  const pending = () => { const d = rt.spool.depth(); return d.events + d.held + d.unreported > 0; };
  while (pending() && !failed) await new Promise((r) => setTimeout(r, 25));
  out('drained');
}
stop.abort();
await running.catch(() => undefined);
if (failed) {
  process.stderr.write(`agent run failed: ${failed.stack ?? failed}\n`);
  process.exit(1);
}
out(`stopped ${JSON.stringify(rt.spool.depth())}`);
process.exit(0);
