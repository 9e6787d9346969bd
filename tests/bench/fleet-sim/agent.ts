/**
 * One simulated agent: its own key and certificate on keep-alive mutual TLS, the wire behaviour of
 * the real agent (agent/transport) without its collectors — a command long-poll on its own
 * connection, heartbeats, an event mix with bursts, a queue that is resent until the server acks
 * it, Retry-After honoured with jitter, full-jitter backoff on errors — in the manner of Fleet's
 * osquery-perf and Wazuh's agent simulator. Runs in-process (tests) or many to a worker (bench).
 */
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { newEvent, type AgentEvent } from '../../../shared/events.js';
import { mulberry32 } from '../../helpers/rng.js';
import { sleep } from '../../../agent/transport/backoff.js';
import { hasIdleSocket } from '../../../agent/transport/http.js';

export interface SimIdentity { hostId: string; key: string; cert: string }

export interface SimOptions {
  /** The agent listener, `https://host:port`. */
  url: string;
  ca: string;
  /** Seconds between heartbeats (jittered ±10%); 0: none. */
  heartbeatSeconds: number;
  /** Seconds a command long-poll waits; 0: no long-poll. */
  pollWaitSeconds: number;
  /** Events per POST at most. */
  batchMax: number;
  /** Backoff cap after errors, ms (the real agent: 300 000; tests use less). */
  backoffMaxMs: number;
  /** Remember every produced id (tests: exactly-once checks). */
  trackIds?: boolean;
  /** Called with the round-trip of every acked POST and of every answered poll. */
  onLatency?: (kind: 'post' | 'heartbeat' | 'poll', ms: number) => void;
}

export interface SimStats {
  connected: boolean;
  produced: number;
  acked: number;
  queued: number;
  /** Answers that were not 200 (other than 503/429), and transport errors (refused, reset, TLS). */
  errors: number;
  /** 503/429 answers with Retry-After (back-pressure, not failure). */
  overloaded: number;
  rejected: number;
  /** TLS handshakes made, and how many of them resumed a session. */
  handshakes: number;
  resumed: number;
  firstError: string | null;
}

/** A seeded generator with the helpers the simulator needs, so runs repeat from a seed. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) { this.next = mulberry32(seed); }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

/** What a terminal sends, by kind: heartbeat, USB, media audit, egress, hardening check. */
export function simEvent(kind: 'heartbeat' | 'usb' | 'media' | 'egress' | 'check', rng: Rng, n = 0): AgentEvent {
  const hex = (len: number) => Array.from({ length: len }, () => '0123456789abcdef'[rng.int(16)]).join('');
  switch (kind) {
    case 'heartbeat':
      return newEvent('agent.heartbeat', 'low', ['art31'], {
        policyVersion: 1, uptimeSeconds: 3600 + rng.int(100_000), rssBytes: 60_000_000 + rng.int(20_000_000),
        spool: { events: rng.int(50), bytes: rng.int(40_000), segments: 1 }, version: '0.1.0',
      });
    case 'usb':
      return newEvent(n % 2 ? 'usb.detached' : 'usb.attached', 'medium', ['art24', 'art31'], {
        device: {
          vendorId: hex(4), productId: hex(4), vendor: rng.pick(['SanDisk', 'Kingston', 'Generic', 'Lexar']), product: 'USB Flash Drive',
          serial: hex(20).toUpperCase(), class: 'mass-storage', busnum: 1 + rng.int(3), devnum: 2 + rng.int(40),
        },
        verdict: { action: rng.pick(['block', 'allow', 'readonly']), enforced: false, rule: 'removable-default', policyVersion: 1 },
      });
    case 'media':
      return newEvent('media.file_written', 'medium', ['art24', 'art31'], {
        mount: '/media/teller01/KINGSTON', path: `/media/teller01/KINGSTON/report-${hex(6)}.xlsx`, size: rng.int(5_000_000),
        sha256: hex(64), user: rng.pick(['alice', 'bob', 'teller01']),
      });
    case 'egress':
      return newEvent('egress.violation', 'high', ['art29', 'art31'], {
        direction: 'outbound', proto: 'tcp', localAddress: `10.${rng.int(255)}.${rng.int(255)}.${1 + rng.int(250)}`, localPort: 32768 + rng.int(28_000),
        remoteAddress: `203.0.113.${1 + rng.int(250)}`, remotePort: rng.pick([443, 80, 8443]), state: 'ESTABLISHED',
        process: { pid: 1000 + rng.int(60_000), name: 'curl', exe: '/usr/bin/curl', user: 'teller01' }, source: 'table', blocked: false,
      });
    case 'check':
      return newEvent('host.check', 'low', ['art31'], {
        profile: 'sin-terminal', summary: { pass: 40 + rng.int(5), fail: rng.int(4) },
        results: Array.from({ length: 12 }, (_, i) => ({ id: `linux.check_${i}`, status: rng.next() < 0.9 ? 'pass' : 'fail', evidence: { value: hex(16) } })),
      });
  }
}

interface Answer { status: number; text: string; retryAfter: number | undefined }

export class SimAgent {
  readonly stats: SimStats = { connected: false, produced: 0, acked: 0, queued: 0, errors: 0, overloaded: 0, rejected: 0, handshakes: 0, resumed: 0, firstError: null };
  private readonly sockets = new WeakSet<object>();
  private readonly sessions = new WeakMap<Agent, Buffer>();
  /** Produced ids in order (with `trackIds`), and the acked ones. */
  readonly producedIds: string[] = [];
  readonly ackedIds = new Set<string>();
  private readonly egress: string[] = [];
  private readonly queue: { id: string; json: string; heartbeat: boolean }[] = [];
  private agent: Agent;
  private pollAgent: Agent;
  private context: SecureContext | undefined;
  private run = new AbortController();
  private loops: Promise<void>[] = [];
  private wake: (() => void) | null = null;
  private readonly rng: Rng;
  /** When the next heartbeat is due: the long-poll ends just before it (agent/transport/heartbeat.ts). */
  private nextBeatAt = Infinity;
  private beatWake: AbortController | null = null;

  constructor(readonly id: SimIdentity, private opts: SimOptions, seed: number) {
    this.rng = new Rng(seed);
    this.agent = this.newAgent(true);
    this.pollAgent = this.newAgent(false);
  }

  /** As the real agent (agent/transport/client.ts): events on a connection closed after 10 s unused, the long-poll on its own. */
  private newAgent(idleClose: boolean): Agent {
    // One parsed context per agent, not one per connection (a simulator of thousands must stay cheap).
    this.context ??= createSecureContext({ key: this.id.key, cert: this.id.cert, ca: this.opts.ca, minVersion: 'TLSv1.2' });
    return new Agent({ keepAlive: true, maxSockets: 1, secureContext: this.context, ...(idleClose ? { timeout: 10_000 } : {}) });
  }

  /** Queue events (what the real agent's spool holds) and wake the sender. */
  emit(events: AgentEvent[]): void {
    for (const e of events) {
      this.queue.push({ id: e.id, json: JSON.stringify(e), heartbeat: e.type === 'agent.heartbeat' });
      if (this.opts.trackIds) {
        this.producedIds.push(e.id);
        if (e.type === 'egress.violation') this.egress.push(e.id);
      }
    }
    this.stats.produced += events.length;
    this.stats.queued = this.queue.length;
    this.wake?.();
  }

  /** Ids of the egress violations produced (with `trackIds`): each must raise one violation. */
  egressIds(): string[] {
    return [...this.egress];
  }

  /** A burst of one kind: a USB storm (attach/detach flapping) or a connection storm. */
  burst(kind: 'usb' | 'egress' | 'media', n: number): void {
    this.emit(Array.from({ length: n }, (_, i) => simEvent(kind, this.rng, i)));
  }

  /** A realistic mix: mostly heartbeats and checks, some USB, media and egress. */
  mix(n: number): void {
    const kinds = ['usb', 'media', 'egress', 'check', 'heartbeat'] as const;
    this.emit(Array.from({ length: n }, (_, i) => simEvent(kinds[this.rng.int(kinds.length)]!, this.rng, i)));
  }

  /** Start the loops, the first contact after `delayMs` (a fleet coming up spreads out). */
  start(delayMs = 0): void {
    this.run = new AbortController();
    const signal = this.run.signal;
    const begin = sleep(delayMs, signal);
    this.loops = [begin.then(() => this.sendLoop(signal))];
    if (this.opts.pollWaitSeconds > 0) this.loops.push(begin.then(() => this.pollLoop(signal)));
    if (this.opts.heartbeatSeconds > 0) this.loops.push(begin.then(() => this.heartbeatLoop(signal)));
  }

  /** Stop the loops and close the connections (queued events stay queued). */
  async stop(): Promise<void> {
    await this.halt();
    this.agent = this.newAgent(true);
    this.pollAgent = this.newAgent(false);
  }

  private async halt(): Promise<void> {
    this.run.abort();
    this.wake?.();
    this.agent.destroy();
    this.pollAgent.destroy();
    await Promise.all(this.loops);
  }

  /**
   * Drop the connections and come back after `delayMs`, as after a server outage. The agents (and
   * their TLS session caches) are kept, as the real agent's HttpClient keeps them.
   */
  async reconnect(delayMs: number): Promise<void> {
    this.stats.connected = false;
    await this.halt();
    this.start(delayMs);
  }

  /** Resolves when every queued event has been acked, or rejects after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.queue.length) {
      if (Date.now() > end) throw new Error(`agent ${this.id.hostId}: ${this.queue.length} events still unacked after ${timeoutMs} ms (last error: ${this.stats.firstError})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async heartbeatLoop(signal: AbortSignal): Promise<void> {
    const period = this.opts.heartbeatSeconds * 1000;
    this.emit([simEvent('heartbeat', this.rng)]); // as the real agent does at start (agent.started)
    while (!signal.aborted) {
      const wait = period * (0.9 + 0.2 * this.rng.next());
      this.nextBeatAt = Date.now() + wait;
      const wake = new AbortController();
      this.beatWake = wake;
      const stop = () => wake.abort();
      signal.addEventListener('abort', stop, { once: true });
      await sleep(wait, wake.signal);
      signal.removeEventListener('abort', stop);
      this.beatWake = null;
      if (!signal.aborted) this.emit([simEvent('heartbeat', this.rng)]);
    }
  }

  /**
   * As the real agent (agent/transport/heartbeat.ts): a beat due within a tenth of the interval is
   * brought forward, and a beat due within 1.5 s goes first, on the poll's idle connection.
   */
  private async beforePoll(signal: AbortSignal): Promise<void> {
    if (this.beatWake && this.nextBeatAt - Date.now() <= Math.max(1500, this.opts.heartbeatSeconds * 100)) {
      this.nextBeatAt = Date.now();
      this.beatWake.abort();
    }
    if (this.nextBeatAt - Date.now() > 1500) return;
    await sleep(Math.max(0, this.nextBeatAt - Date.now()) + 20, signal);
    const end = Date.now() + 10_000;
    while (!signal.aborted && Date.now() < end && this.queue.some((q) => q.heartbeat)) await sleep(20, signal);
  }

  private pollWait(): number {
    return Math.max(1, Math.min(this.opts.pollWaitSeconds, Math.floor((this.nextBeatAt - Date.now()) / 1000)));
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    let cursor = 0;
    let policy = 0;
    let first = true;
    while (!signal.aborted) {
      if (!first) await this.beforePoll(signal);
      const t0 = performance.now();
      const r = await this.call('GET', `/v1/commands?wait=${first ? 0 : this.pollWait()}&after=${cursor}&policy=${policy}`, undefined, (this.opts.pollWaitSeconds + 30) * 1000, signal);
      if (signal.aborted) return;
      if (r.status === 200) {
        this.stats.connected = true;
        first = false;
        attempt = 0;
        this.opts.onLatency?.('poll', performance.now() - t0);
        const body = JSON.parse(r.text) as { policyVersion: number; commands: { seq: number }[] };
        policy = body.policyVersion; // as the real agent: it fetches the new policy, then waits on its version
        for (const c of body.commands) cursor = Math.max(cursor, c.seq);
        continue;
      }
      await sleep(this.retryWait(r, attempt++), signal);
    }
  }

  private async sendLoop(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      if (!this.queue.length) {
        await new Promise<void>((r) => { this.wake = r; });
        this.wake = null;
        continue;
      }
      const batch = this.queue.slice(0, this.opts.batchMax);
      const body = `{"events":[${batch.map((b) => b.json).join(',')}]}`;
      const t0 = performance.now();
      const r = await this.call('POST', '/v1/events', body, 60_000, signal);
      if (signal.aborted) return;
      if (r.status !== 200) {
        await sleep(this.retryWait(r, attempt++), signal);
        continue;
      }
      attempt = 0;
      this.stats.connected = true;
      const ms = performance.now() - t0;
      this.opts.onLatency?.(batch.length === 1 && batch[0]!.heartbeat ? 'heartbeat' : 'post', ms);
      const res = JSON.parse(r.text) as { acked: string[]; rejected?: { id: string | null }[] };
      res.rejected ??= [];
      const done = new Set(res.acked);
      for (const x of res.rejected) if (x.id) done.add(x.id);
      this.stats.rejected += res.rejected.length;
      for (const id of res.acked) if (this.opts.trackIds) this.ackedIds.add(id);
      this.stats.acked += res.acked.length;
      // Acks for events no longer at the head (a duplicate answer) change nothing.
      let k = 0;
      for (let i = 0; i < this.queue.length; i++) if (!done.has(this.queue[i]!.id)) this.queue[k++] = this.queue[i]!;
      this.queue.length = k;
      this.stats.queued = k;
    }
  }

  /** Retry-After (plus up to half again, so a refused fleet spreads out), else full-jitter backoff. */
  private retryWait(r: Answer, attempt: number): number {
    if (r.retryAfter !== undefined && (r.status === 503 || r.status === 429)) {
      this.stats.overloaded++;
      return r.retryAfter * 1000 * (1 + 0.5 * this.rng.next());
    }
    this.stats.errors++;
    this.stats.firstError ??= r.text.slice(0, 300);
    return Math.max(100, this.rng.next() * Math.min(this.opts.backoffMaxMs, 500 * 2 ** Math.min(attempt, 20)));
  }

  /** One request; a transport failure is an answer with status 0. */
  private call(method: string, path: string, body: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<Answer> {
    return new Promise((resolve) => {
      const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      // As AgentClient.postEvents: between two polls a batch goes on the poll's idle connection.
      const agent = method === 'GET' || (!hasIdleSocket(this.agent) && hasIdleSocket(this.pollAgent)) ? this.pollAgent : this.agent;
      // As agent/transport/http.ts: our own copy of the session (node:https drops its copy after a refused attempt).
      const session = this.sessions.get(agent);
      const req = request(`${this.opts.url}${path}`, { method, agent, timeout: timeoutMs, headers, signal, ...(session ? { session } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ra = Number(res.headers['retry-after']);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: Number.isFinite(ra) && res.headers['retry-after'] !== undefined ? ra : undefined });
        });
        res.on('error', (e) => resolve({ status: 0, text: `${method} ${path}: ${e.message}`, retryAfter: undefined }));
      });
      req.on('socket', (sock: TLSSocket) => {
        if (this.sockets.has(sock)) return;
        this.sockets.add(sock);
        sock.on('session', (sess: Buffer) => { this.sessions.set(agent, sess); });
        sock.once('secureConnect', () => {
          this.stats.handshakes++;
          if (sock.isSessionReused()) this.stats.resumed++;
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => resolve({ status: 0, text: `${method} ${path}: ${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`, retryAfter: undefined }));
      req.end(body);
    });
  }
}
