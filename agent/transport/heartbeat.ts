/**
 * Heartbeats, and the pace of the command long-poll around them. A beat is an ordinary spooled
 * event (durable, acked by id); what this adds is timing: the long-poll is asked to end just before
 * a beat is due and waits for the beat to be delivered before it polls again, so the beat goes out
 * on the poll's idle kept-alive connection (AgentClient.postEvents picks it). An idle agent then
 * holds one connection and makes no TLS handshake per beat; a server of 10,000 agents is spared
 * ~170 resumed handshakes a second. While the server is unreachable the beats keep their cadence
 * and wait in the spool like any event.
 */
import type { Part } from '../supervisor.js';
import { jitter, sleep } from './backoff.js';

/** A poll that would end this close to a beat lets the beat go first. */
const LEAD_MS = 1500;
/** How long a poll waits for a due beat to be delivered before it polls anyway. */
const DELIVERY_WAIT_MS = 10_000;

export interface HeartbeatHooks {
  /** Build and spool one beat; its event id. */
  beat(): Promise<string>;
  /** Resolves once the id is acked by the server (or after `timeoutMs`, or on abort). */
  delivered(id: string, timeoutMs: number, signal: AbortSignal): Promise<void>;
}

export class Heartbeat implements Part {
  readonly name = 'heartbeat';
  private nextAt: number;
  /** Settles when the next beat has been delivered (or given up on). */
  private done: Promise<void>;
  private settle: () => void = () => undefined;
  /** The beat being spooled and delivered now, if any. */
  private inFlight: Promise<void> | null = null;
  /** Ends the run loop's wait for the next beat (a poll brings the beat forward). */
  private wake: AbortController | null = null;
  private beats = 0;

  constructor(private readonly intervalMs: () => number, private readonly hooks: HeartbeatHooks, now = Date.now()) {
    // The first beat comes soon after start (spread over a few seconds), then one per interval.
    this.nextAt = now + Math.random() * Math.min(5000, intervalMs());
    this.done = this.nextBeat();
  }

  private nextBeat(): Promise<void> {
    return new Promise<void>((resolve) => { this.settle = resolve; });
  }

  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.settle(), { once: true });
    while (!signal.aborted) {
      this.wake = new AbortController();
      const stop = () => this.wake?.abort();
      signal.addEventListener('abort', stop, { once: true });
      await sleep(this.nextAt - Date.now(), this.wake.signal);
      signal.removeEventListener('abort', stop);
      this.wake = null;
      if (signal.aborted) return;
      this.nextAt = Date.now() + jitter(this.intervalMs());
      this.beats++;
      const settle = this.settle;
      this.done = this.nextBeat();
      this.inFlight = (async () => {
        try {
          await this.hooks.delivered(await this.hooks.beat(), DELIVERY_WAIT_MS, signal);
        } finally {
          settle();
        }
      })();
      try {
        await this.inFlight;
      } finally {
        this.inFlight = null;
      }
    }
  }

  /** Seconds the next long-poll should wait: until just before the next beat, at most `maxSeconds`. */
  pollWait(maxSeconds: number, now = Date.now()): number {
    return Math.max(1, Math.min(maxSeconds, Math.floor((this.nextAt - now) / 1000)));
  }

  /**
   * Before a poll: a beat due within the lead time is delivered first, on the idle poll connection.
   * A beat due within a tenth of the interval (the jitter's width) is brought forward to now: a poll
   * capped short of the beat then needs no second, short poll to reach it.
   */
  async beforePoll(signal: AbortSignal, now = Date.now()): Promise<void> {
    // Not the first beat: it already comes within seconds of start, whatever the spool holds then.
    if (this.beats > 0 && !this.inFlight && this.nextAt - now <= Math.max(LEAD_MS, this.intervalMs() / 10) && this.wake) {
      this.nextAt = Math.min(this.nextAt, Date.now());
      this.wake.abort();
    }
    const beat = this.inFlight ?? (this.nextAt - now <= LEAD_MS ? this.done : null);
    if (!beat) return;
    const limitMs = (this.inFlight ? 0 : Math.max(0, this.nextAt - now)) + DELIVERY_WAIT_MS;
    const gate = new AbortController();
    const stop = () => gate.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([beat.catch(() => undefined), sleep(limitMs, gate.signal)]);
    } finally {
      gate.abort();
      signal.removeEventListener('abort', stop);
    }
  }
}
