/**
 * Ingest load generator (a forked worker; hot loop): N simulated agents, each on its own keep-alive
 * mutual-TLS connection, posting batches of events as fast as acks come back.
 * Messages: init → ready, go (warm-up), measure, stop → result.
 */
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { v7 as uuidv7 } from 'uuid';
import { newEvent, type AgentEvent } from '../../shared/events.js';
import { reply, replyLast, type WorkerMessage } from './lib.js';

export interface Identity { hostId: string; key: string; cert: string }
/**
 * `storm`: heartbeats, USB attachments and egress violations in thirds (a third of the events raise
 * a violation); `terminal`: a terminal's day (a heartbeat a minute: 1,440 of every 1,500 events; the
 * other 60 USB attachments and egress violations, alternately).
 */
export type IngestMix = 'storm' | 'terminal';
export interface IngestInit extends WorkerMessage { type: 'init'; url: string; ca: string; identities: Identity[]; batch: number; seed: number; mix?: IngestMix }
export interface IngestResult extends WorkerMessage {
  type: 'result';
  latenciesMs: number[];
  ackedInWindow: number;
  ackedTotal: number;
  errors: number;
  /** 503/429 answers with Retry-After: waited out as a real agent does (plus up to half again). */
  overloaded: number;
  firstError: string | null;
  bytesPerEvent: number;
}

/** Realistic events of mixed types, ~300–600 bytes each. */
function sampleEvents(n: number, seed: number, mix: IngestMix = 'storm'): AgentEvent[] {
  let s = seed >>> 0 || 1;
  const rnd = (k: number) => { s = (s * 1103515245 + 12345) >>> 0; return s % k; };
  const hex = (len: number) => Array.from({ length: len }, () => '0123456789abcdef'[rnd(16)]).join('');
  const out: AgentEvent[] = [];
  let other = 0;
  for (let i = 0; i < n; i++) {
    const kind = mix === 'storm' ? i % 3 : rnd(1500) < 1440 ? 0 : 1 + (other++ % 2);
    if (kind === 0) {
      out.push(newEvent('agent.heartbeat', 'low', ['art31'], {
        policyVersion: 3, uptimeSeconds: 3600 + rnd(100_000), rssBytes: 60_000_000 + rnd(20_000_000),
        spool: { events: rnd(50), bytes: rnd(40_000), segments: 1 }, version: '0.1.0',
        hostname: `ws-${hex(6)}.branch-${rnd(40)}.bank.example`, load: [rnd(200) / 100, rnd(200) / 100, rnd(200) / 100],
        memFreeBytes: 2_000_000_000 + rnd(1_000_000_000), diskFreeBytes: 80_000_000_000 + rnd(10_000_000_000),
      }));
    } else if (kind === 1) {
      out.push(newEvent('usb.attached', 'medium', ['art24', 'art25'], {
        device: {
          vendorId: hex(4), productId: hex(4), vendor: ['SanDisk', 'Kingston', 'Generic', 'Lexar'][rnd(4)], product: 'USB Flash Drive',
          serial: hex(20).toUpperCase(), class: 'mass-storage', speed: 'high-speed', busnum: 1 + rnd(3), devnum: 2 + rnd(40),
          sysPath: `/sys/devices/pci0000:00/0000:00:14.0/usb1/1-${1 + rnd(6)}`,
        },
        interfaces: [{ class: 8, subclass: 6, protocol: 80 }],
        policy: { action: ['block', 'allow', 'log'][rnd(3)], rule: 'removable-default', version: 3 },
        user: ['alice', 'bob', 'teller01'][rnd(3)],
      }));
    } else {
      out.push(newEvent('egress.violation', 'high', ['art16', 'art29'], {
        process: { pid: 1000 + rnd(60_000), name: 'curl', exe: '/usr/bin/curl', user: 'teller01', cmdline: 'curl -s https://203.0.113.7/upload' },
        local: { address: `10.${rnd(255)}.${rnd(255)}.${1 + rnd(250)}`, port: 32768 + rnd(28_000) },
        remote: { address: `203.0.113.${1 + rnd(250)}`, port: [443, 80, 8443][rnd(3)] },
        protocol: 'tcp', interface: 'eth0', direction: 'outbound',
        policy: { allow: ['198.18.0.0/15', '198.51.100.0/24'], action: 'log', version: 3 },
      }));
    }
  }
  return out;
}

let init: IngestInit;
let templates: string[] = []; // each event's JSON after its id: `"type":…}`
let phase: 'idle' | 'warm' | 'measure' | 'stopping' = 'idle';
const latencies: number[] = [];
let ackedInWindow = 0;
let ackedTotal = 0;
let errors = 0;
let overloaded = 0;
let firstError: string | null = null;
let nextTemplate = 0;

/** A batch body: fresh ids (stored rows are keyed by them), pre-serialised rest, so the client stays cheap. */
function body(): string {
  const parts: string[] = [];
  for (let i = 0; i < init.batch; i++) {
    parts.push(`{"id":"${uuidv7()}",${templates[nextTemplate]!}`);
    nextTemplate = (nextTemplate + 1) % templates.length;
  }
  return `{"events":[${parts.join(',')}]}`;
}

function post(agent: Agent, payload: string): Promise<{ status: number; text: string; retryAfter?: number }> {
  return new Promise((ok, fail) => {
    const req = request(`${init.url}/v1/events`, {
      method: 'POST', agent, timeout: 60_000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const ra = Number(res.headers['retry-after']);
      res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(Number.isFinite(ra) && res.headers['retry-after'] ? { retryAfter: ra } : {}) }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(payload);
  });
}

async function simulate(id: Identity): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, key: id.key, cert: id.cert, ca: init.ca, minVersion: 'TLSv1.2' });
  try {
    while (phase === 'warm' || phase === 'measure') {
      const payload = body();
      const t0 = performance.now();
      try {
        const r = await post(agent, payload);
        if ((r.status === 503 || r.status === 429) && r.retryAfter !== undefined) {
          overloaded++;
          await new Promise((ok) => setTimeout(ok, r.retryAfter! * 1000 * (1 + 0.5 * Math.random())));
          continue;
        }
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 300)}`);
        const n = (JSON.parse(r.text) as { acked: string[] }).acked.length;
        if (n !== init.batch) throw new Error(`acked ${n} of ${init.batch}: ${r.text.slice(0, 300)}`);
        ackedTotal += n;
        if (phase === 'measure') {
          latencies.push(performance.now() - t0);
          ackedInWindow += n;
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    agent.destroy();
  }
}

let loops: Promise<void>[] = [];
process.on('message', (m: WorkerMessage) => {
  if (m.type === 'init') {
    init = m as IngestInit;
    templates = sampleEvents(init.mix === 'terminal' ? 1500 : 300, init.seed, init.mix).map((e) => {
      const { id: _id, ...rest } = e;
      return JSON.stringify(rest).slice(1);
    });
    reply({ type: 'ready' });
  } else if (m.type === 'go') {
    phase = 'warm';
    loops = init.identities.map((id) => simulate(id));
  } else if (m.type === 'measure') {
    phase = 'measure';
  } else if (m.type === 'stop') {
    phase = 'stopping';
    void Promise.all(loops).then(() => {
      const bytesPerEvent = templates.reduce((a, t) => a + t.length + 46, 0) / templates.length;
      replyLast({ type: 'result', latenciesMs: latencies, ackedInWindow, ackedTotal, errors, overloaded, firstError, bytesPerEvent } satisfies IngestResult);
    });
  }
});
