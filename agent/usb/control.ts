/**
 * Removable media control (art31): every USB device that appears — and every one present at
 * start — is judged by the policy (agent/policy/usb.ts), the verdict is enforced by the platform,
 * re-read to confirm it held, and reported. A failure to enforce is an event too, never silent.
 * Policy changes and lapsing exceptions re-judge the devices present.
 */
import type { Logger } from 'pino';
import { newEvent, type AgentEvent, type Severity } from '../../shared/events.js';
import type { Policy } from '../../shared/policy.js';
import type { UsbDevice } from '../../shared/usb.js';
import type { EvalContext } from '../../shared/usbguard/index.js';
import { compileUsbPolicy, decideUsb, type CompiledUsbPolicy, type UsbDecision } from '../policy/usb.js';
import type { Part } from '../supervisor.js';
import type { UsbExceptions } from './exceptions.js';
import { sleep } from '../transport/backoff.js';

export interface UsbChange { attached: UsbDevice[]; detached: UsbDevice[] }

export interface UsbWatcher extends Part {
  onChange(cb: (c: UsbChange) => void): () => void;
  devices(): UsbDevice[];
}

export interface EnforceOutcome {
  held: boolean;
  /** What was done, e.g. "authorized=0", "pnputil /disable-device", "diskutil eject". */
  method: string;
  detail?: Record<string, unknown>;
  error?: string;
}

export interface UsbEnforcer {
  block(d: UsbDevice): Promise<EnforceOutcome>;
  /** Undo a block (policy relaxed, exception granted). */
  unblock(d: UsbDevice): Promise<EnforceOutcome>;
  /** Read-only: the device stays usable, its volumes cannot be written. */
  readonly(d: UsbDevice): Promise<EnforceOutcome>;
}

/** What one device's strings and identity look like in an event (all of it untrusted data). */
export function deviceData(d: UsbDevice): Record<string, unknown> {
  return {
    id: d.id, vendorId: d.vendorId, productId: d.productId, serial: d.serial, manufacturer: d.manufacturer, product: d.product,
    port: d.port, deviceClass: d.deviceClass, interfaces: d.interfaces.map((i) => `${i.class}:${i.subclass}:${i.protocol}`),
    drivers: [...new Set(d.interfaces.map((i) => i.driver).filter(Boolean))], connectType: d.connectType, hash: d.hash,
  };
}

function verdictData(v: UsbDecision): Record<string, unknown> {
  return {
    action: v.action, enforced: v.enforce, reason: v.reason, kinds: v.kinds,
    ...(v.rule ? { rule: v.rule } : {}), ...(v.exceptionId ? { exceptionId: v.exceptionId } : {}),
    ...(!v.enforce && v.action !== 'allow' ? { wouldBe: v.action } : {}),
  };
}

export interface UsbControlHost {
  policy(): Policy;
  emit(...events: AgentEvent[]): Promise<void>;
}

export class UsbControl implements Part {
  readonly name = 'usb-control';
  private compiled: CompiledUsbPolicy;
  private compiledFrom: Policy['usb'] | null = null;
  /** Devices we blocked or made read-only, so a relaxed policy can undo it. */
  private readonly enforced = new Map<string, 'block' | 'readonly'>();
  private readonly applied = new Map<number, Date>();
  private readonly evaluated = new Map<number, Date>();
  private queue: Promise<void> = Promise.resolve();
  private lapseWake: (() => void) | null = null;

  constructor(
    private readonly host: UsbControlHost,
    private readonly watcher: UsbWatcher,
    private readonly enforcer: UsbEnforcer,
    private readonly exceptions: UsbExceptions,
    private readonly log: Logger,
  ) {
    this.compiled = compileUsbPolicy(host.policy().usb);
  }

  /** Devices present now whose verdict allows them: their volumes stay writable under `readonly`. */
  allowedDevices(): string[] {
    return this.watcher.devices().filter((d) => this.decide(d, false).action === 'allow').map((d) => d.id);
  }

  private evalContext(now: Date): EvalContext {
    return {
      now,
      random: Math.random,
      lastApplied: (i) => this.applied.get(i) ?? null,
      lastEvaluated: (i) => this.evaluated.get(i) ?? null,
      allowedMatches: () => false,
    };
  }

  /** `record`: this decision is acted on, so rules' rule-applied history moves (a look-ahead does not). */
  private decide(d: UsbDevice, record = true, now = new Date()): UsbDecision {
    const usb = this.host.policy().usb;
    if (usb !== this.compiledFrom) {
      this.compiled = compileUsbPolicy(usb);
      this.compiledFrom = usb;
    }
    const v = decideUsb(d, this.compiled, { exceptions: this.exceptions.active(now), ctx: this.evalContext(now) });
    if (v.rule && record) this.applied.set(v.rule.index, now);
    return v;
  }

  /** Serialise everything that touches devices: decisions and enforcement never interleave. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch((err: unknown) => this.log.error({ err }, 'usb control step failed'));
    return this.queue;
  }

  private async judge(d: UsbDevice, attached: boolean): Promise<void> {
    const v = this.decide(d);
    const events: AgentEvent[] = [];
    const sev: Severity = v.action === 'allow' ? 'low' : v.enforce ? 'medium' : 'high';
    if (attached) events.push(newEvent('usb.attached', sev, ['art31'], { device: deviceData(d), verdict: verdictData(v) }));
    const had = this.enforced.get(d.id);
    if (v.enforce && v.action !== 'allow' && had !== v.action) {
      const r = v.action === 'block' ? await this.enforcer.block(d) : await this.enforcer.readonly(d);
      if (r.held) this.enforced.set(d.id, v.action);
      events.push(newEvent('usb.blocked', r.held ? 'high' : 'critical', ['art31'], {
        device: deviceData(d), action: v.action === 'block' ? 'block' : 'readonly', method: r.method, held: r.held,
        reason: v.reason, ...(v.rule ? { rule: v.rule } : {}), ...(r.error ? { error: r.error } : {}), ...(r.detail ? { detail: r.detail } : {}),
      }));
    } else if ((v.action === 'allow' || !v.enforce) && had) {
      const r = await this.enforcer.unblock(d);
      if (r.held) this.enforced.delete(d.id);
      events.push(newEvent('usb.unblocked', r.held ? 'medium' : 'high', ['art31'], {
        device: deviceData(d), method: r.method, held: r.held, reason: v.reason, ...(v.exceptionId ? { exceptionId: v.exceptionId } : {}),
        ...(r.error ? { error: r.error } : {}),
      }));
    }
    if (events.length) await this.host.emit(...events);
  }

  /** The policy or the exceptions changed: judge every present device again. */
  reevaluate(): Promise<void> {
    return this.serial(async () => {
      for (const d of this.watcher.devices()) await this.judge(d, false);
    });
  }

  /** A signed exception arrived from the server. */
  async addException(signed: unknown): Promise<void> {
    const problem = this.exceptions.add(signed);
    if (problem) {
      await this.host.emit(newEvent('usb.exception_refused', 'high', ['art31'], { problem, exception: (signed as { exception?: unknown })?.exception ?? null }));
      return;
    }
    this.lapseWake?.();
    await this.reevaluate();
  }

  async run(signal: AbortSignal): Promise<void> {
    const off = this.watcher.onChange((c) => {
      void this.serial(async () => {
        for (const d of c.detached) {
          this.enforced.delete(d.id);
          await this.host.emit(newEvent('usb.detached', 'low', ['art31'], { device: deviceData(d) }));
        }
        for (const d of c.attached) await this.judge(d, true);
      });
    });
    const lapse = (async () => {
      while (!signal.aborted) {
        const next = this.exceptions.nextExpiry();
        await new Promise<void>((resolve) => {
          this.lapseWake = resolve;
          void sleep(Math.min(next ?? 60_000, 60_000) + 50, signal).then(resolve);
        });
        this.lapseWake = null;
        if (signal.aborted) return;
        if (this.exceptions.prune().length) await this.reevaluate();
      }
    })();
    try {
      await Promise.all([this.watcher.run(signal), lapse]);
    } finally {
      off();
      await this.queue;
    }
  }
}
