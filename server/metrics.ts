/**
 * Operations (issue 7): counters and gauges in the Prometheus text exposition format (version
 * 0.0.4) at /metrics, and /healthz. A registry of plain numbers: the hot path increments a field.
 */
import type { MallocTuning } from './malloc.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export class Metrics {
  readonly counters = {
    ingestRequests: 0, ingestOverloaded: 0, eventsStored: 0, eventsRejected: 0, violationsRaised: 0, loginFailures: 0,
    /** Mutual-TLS handshakes on the agent listener, and how many resumed a session. */
    agentHandshakes: 0, agentHandshakesResumed: 0,
  };
  /** Store write latency: seconds, for a summary with a few quantiles over the last 1,000 writes. */
  private readonly writes: number[] = [];
  private writeSum = 0;
  private writeCount = 0;
  private readonly loop = monitorEventLoopDelay({ resolution: 20 });
  private recentLoopP99 = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  /** glibc malloc tuning (server/malloc.ts), when the server runs with it. */
  malloc: MallocTuning | null = null;

  constructor() {
    this.loop.enable();
    this.timer = setInterval(() => {
      this.recentLoopP99 = this.loop.percentile(99) / 1e9;
      this.loop.reset();
    }, 5000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.loop.disable();
  }

  observeWrite(seconds: number): void {
    this.writeSum += seconds;
    this.writeCount++;
    this.writes.push(seconds);
    if (this.writes.length > 1000) this.writes.shift();
  }

  writeQuantile(q: number): number {
    if (!this.writes.length) return 0;
    const s = [...this.writes].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  }

  /** Event-loop delay p99 in seconds over the last window of 5 s (the admission check reads it too). */
  loopP99(): number {
    return this.recentLoopP99;
  }

  render(g: { connectedAgents: number; inflightEvents: number; hosts?: number; alerts?: { queued: number; sent: number; deadLettered: number } | null }): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
    };
    const c = this.counters;
    metric('termguard_ingest_requests_total', 'counter', 'POST /v1/events requests', [['', c.ingestRequests]]);
    metric('termguard_ingest_overloaded_total', 'counter', 'ingest requests refused with 503 because the server was overloaded', [['', c.ingestOverloaded]]);
    metric('termguard_events_stored_total', 'counter', 'events acknowledged (stored now or before)', [['', c.eventsStored]]);
    metric('termguard_events_rejected_total', 'counter', 'events rejected (invalid, another host\'s id)', [['', c.eventsRejected]]);
    metric('termguard_violations_raised_total', 'counter', 'violations raised from events', [['', c.violationsRaised]]);
    metric('termguard_login_failures_total', 'counter', 'failed console logins', [['', c.loginFailures]]);
    metric('termguard_agent_tls_handshakes_total', 'counter', 'TLS handshakes completed on the agent listener, by session resumption', [
      ['{resumed="false"}', c.agentHandshakes - c.agentHandshakesResumed], ['{resumed="true"}', c.agentHandshakesResumed],
    ]);
    metric('termguard_ingest_inflight_events', 'gauge', 'events in requests being stored now', [['', g.inflightEvents]]);
    metric('termguard_connected_agents', 'gauge', 'open mutual-TLS connections on the agent listener', [['', g.connectedAgents]]);
    if (g.hosts !== undefined) metric('termguard_hosts', 'gauge', 'enrolled hosts', [['', g.hosts]]);
    metric('termguard_store_write_seconds', 'summary', 'time to commit one ingest batch (quantiles over the last 1,000)', [
      ['{quantile="0.5"}', this.writeQuantile(0.5)], ['{quantile="0.99"}', this.writeQuantile(0.99)],
    ]);
    lines.push(`termguard_store_write_seconds_sum ${this.writeSum}`, `termguard_store_write_seconds_count ${this.writeCount}`);
    metric('termguard_event_loop_delay_seconds', 'gauge', 'event-loop delay p99 over the last few seconds', [['', this.loopP99()]]);
    const mem = process.memoryUsage();
    metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use (JavaScript objects)', [['', mem.heapUsed]]);
    metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved', [['', mem.heapTotal]]);
    metric('nodejs_external_memory_bytes', 'gauge', 'memory outside the V8 heap held by JavaScript objects (buffers, TLS)', [['', mem.external]]);
    if (g.alerts) {
      metric('termguard_alerts_queued', 'gauge', 'alerts waiting to be delivered', [['', g.alerts.queued]]);
      metric('termguard_alerts_sent_total', 'counter', 'alerts delivered', [['', g.alerts.sent]]);
      metric('termguard_alerts_dead_lettered_total', 'counter', 'alerts given up on', [['', g.alerts.deadLettered]]);
    }
    if (this.malloc) {
      metric('termguard_malloc_mmap_threshold_bytes', 'gauge', 'glibc malloc mmap threshold set at start (0: not tuned)', [['', this.malloc.mmapThreshold ?? 0]]);
      metric('termguard_malloc_trims_total', 'counter', 'malloc_trim(0) runs giving free heap pages back', [['', this.malloc.trims]]);
      metric('termguard_malloc_trim_seconds_total', 'counter', 'time spent in malloc_trim(0)', [['', this.malloc.trimSeconds]]);
      const st = this.malloc.stats();
      if (st) {
        metric('termguard_malloc_heap_bytes', 'gauge', 'glibc malloc heap (all arenas, excluding mmapped chunks)', [['', st.heapBytes]]);
        metric('termguard_malloc_heap_free_bytes', 'gauge', 'free bytes inside the malloc heap (fragmentation)', [['', st.freeBytes]]);
        metric('termguard_malloc_mmapped_bytes', 'gauge', 'bytes in chunks mapped on their own (above the mmap threshold)', [['', st.mmappedBytes]]);
      }
    }
    const cpu = process.cpuUsage();
    metric('process_resident_memory_bytes', 'gauge', 'resident set size', [['', mem.rss]]);
    metric('process_cpu_seconds_total', 'counter', 'user and system CPU time', [['', (cpu.user + cpu.system) / 1e6]]);
    metric('process_start_time_seconds', 'gauge', 'start time (Unix seconds)', [['', Math.floor(this.started / 1000)]]);
    return lines.join('\n') + '\n';
  }
}

/**
 * Admission control for ingest: when the events waiting to be stored or the event-loop delay pass
 * their limits, refuse with 503 and a jittered Retry-After, so a reconnecting fleet spreads out
 * instead of piling up (agents honour Retry-After).
 */
export class Admission {
  inflightEvents = 0;

  constructor(private readonly metrics: Metrics, readonly maxInflightEvents = 100_000, readonly maxLoopDelaySeconds = 1) {}

  /** Seconds to ask the agent to wait, or null when the request may proceed. */
  check(events: number): number | null {
    if (this.inflightEvents + events > this.maxInflightEvents || this.metrics.loopP99() > this.maxLoopDelaySeconds) {
      this.metrics.counters.ingestOverloaded++;
      return 2 + Math.floor(Math.random() * 9); // 2–10 s
    }
    return null;
  }
}
