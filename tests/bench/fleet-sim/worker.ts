/**
 * A fleet-simulator worker (forked by tests/bench/fleet.ts): hosts many SimAgents in one process.
 * Messages in: init → ready; start {rampMs}; status → status; measure (clear latencies);
 * latencies → latencies; reconnect {windowMs} (all drop their connections and come back spread
 * over the window); burst {kind, agents, events}; mix {agents, events}; stop → stopped.
 */
import { SimAgent, Rng, type SimIdentity, type SimOptions } from './agent.js';
import { reply, type WorkerMessage } from '../lib.js';

export interface FleetInit extends WorkerMessage {
  type: 'init';
  identities: SimIdentity[];
  opts: Omit<SimOptions, 'onLatency' | 'trackIds'>;
  seed: number;
}
export interface FleetStatus extends WorkerMessage {
  type: 'status';
  agents: number; connected: number; produced: number; acked: number; queued: number; errors: number; overloaded: number; handshakes: number; resumed: number; firstError: string | null;
}
export interface FleetLatencies extends WorkerMessage { type: 'latencies'; heartbeat: number[]; poll: number[]; post: number[] }

let agents: SimAgent[] = [];
let rng = new Rng(1);
let lat = { heartbeat: [] as number[], poll: [] as number[], post: [] as number[] };

function status(): FleetStatus {
  const s: FleetStatus = { type: 'status', agents: agents.length, connected: 0, produced: 0, acked: 0, queued: 0, errors: 0, overloaded: 0, handshakes: 0, resumed: 0, firstError: null };
  for (const a of agents) {
    if (a.stats.connected) s.connected++;
    s.produced += a.stats.produced;
    s.acked += a.stats.acked;
    s.queued += a.stats.queued;
    s.errors += a.stats.errors;
    s.overloaded += a.stats.overloaded;
    s.handshakes += a.stats.handshakes;
    s.resumed += a.stats.resumed;
    s.firstError ??= a.stats.firstError;
  }
  return s;
}

process.on('message', (m: WorkerMessage) => {
  switch (m.type) {
    case 'init': {
      const init = m as FleetInit;
      rng = new Rng(init.seed);
      const onLatency = (kind: 'post' | 'heartbeat' | 'poll', ms: number) => { lat[kind].push(ms); };
      agents = init.identities.map((id, i) => new SimAgent(id, { ...init.opts, onLatency }, init.seed * 100_003 + i));
      reply({ type: 'ready' });
      break;
    }
    case 'start':
      for (const a of agents) a.start(rng.next() * (m.rampMs as number));
      break;
    case 'status':
      reply(status());
      break;
    case 'measure':
      lat = { heartbeat: [], poll: [], post: [] };
      break;
    case 'latencies':
      reply({ type: 'latencies', ...lat } satisfies FleetLatencies);
      break;
    case 'reconnect':
      for (const a of agents) void a.reconnect(rng.next() * (m.windowMs as number));
      break;
    case 'burst':
      for (let i = 0; i < (m.agents as number); i++) rng.pick(agents).burst(m.kind as 'usb' | 'egress' | 'media', m.events as number);
      break;
    case 'mix':
      for (let i = 0; i < (m.agents as number); i++) rng.pick(agents).mix(m.events as number);
      break;
    case 'stop':
      void Promise.all(agents.map((a) => a.stop())).then(() => reply({ type: 'stopped' }));
      break;
  }
});
