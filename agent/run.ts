/**
 * `termguard-agent run`: the supervised group — sender, heartbeat, command poller, certificate
 * renewal, status file — around one durable spool. Every event goes to the spool first; a full or
 * failing disk does not stop any part (see emit()).
 */
import { hostname } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { newEvent, type AgentEvent } from '../shared/events.js';
import { checkPolicy } from '../shared/policy.js';
import { writeFileAtomic } from '../shared/fs.js';
import { PROTOCOL_VERSION } from '../shared/protocol.js';
import { VERSION } from '../shared/version.js';
import type { AgentConfig } from './config.js';
import { loadState, saveState, statePaths, type AgentState } from './state.js';
import { Spool, type OfferResult } from './transport/spool.js';
import { writeStatusFile, type AgentStatusFile } from './status.js';
import { AgentClient } from './transport/client.js';
import { Sender } from './transport/sender.js';
import { CommandPoller } from './transport/commands.js';
import { Renewer } from './transport/renewal.js';
import { jitter, sleep } from './transport/backoff.js';
import { Heartbeat } from './transport/heartbeat.js';
import { Supervisor, type Part } from './supervisor.js';
import { HostMonitor } from './monitor.js';
import { Watchdog, WatchdogTripped } from './watchdog.js';
import { isSheddable } from './shedding.js';
import { ActionsLog, verifyActionsLog } from './actions-log.js';
import { readSmallFile } from './fsread.js';
import { UsbControl } from './usb/control.js';
import { UsbExceptions } from './usb/exceptions.js';
import { usbPlatform } from './usb/platform.js';
import { agentRunner } from './exec.js';
import { makeMediaParts, type MediaParts } from './media/index.js';
import { MediaControl } from './media/control.js';
import { appliedPolicy } from './checks/host.js';
import type { Policy } from '../shared/policy.js';
import { makeEgress, resolveServer, tlsReach } from './egress/index.js';
import type { EgressControl } from './egress/control.js';

export { readStatusFile, type AgentStatusFile } from './status.js';

/** Events that record an action of the agent itself; each is also appended to actions.log. */
const ACTION_TYPES = new Set([
  'agent.started', 'agent.stopped', 'agent.policy_applied', 'agent.policy_rejected', 'agent.watchdog',
  'usb.blocked', 'usb.unblocked', 'egress.enforcement',
]);

export class AgentRuntime {
  state: AgentState;
  readonly spool: Spool;
  client: AgentClient;
  readonly sender: Sender;
  private readonly renewer: Renewer;
  readonly monitor: HostMonitor;
  readonly usb: UsbControl | null;
  readonly media: MediaParts;
  readonly mediaControl: MediaControl;
  readonly egress: EgressControl | null;
  private applied: { version: number; policy: Policy };
  private readonly started = Date.now();
  private policySeen: number;
  private statusFailing = false;
  readonly actions: ActionsLog;
  readonly watchdog: Watchdog;
  private readonly extraParts: Part[] = [];

  private constructor(readonly stateDir: string, readonly config: AgentConfig, readonly log: Logger, spool: Spool) {
    this.state = loadState(stateDir);
    this.policySeen = this.state.policyVersion;
    this.applied = appliedPolicy(stateDir);
    this.spool = spool;
    const actionsLog = log.child({ part: 'actions-log' });
    this.actions = new ActionsLog(statePaths(stateDir).actionsLog, (err) => actionsLog.error({ err: err.message }, 'cannot write actions.log'));
    const wd = config.watchdog;
    this.watchdog = new Watchdog({
      maxRssBytes: wd.maxRssMb * 1024 * 1024, maxCpuPercent: wd.maxCpuPercent, sampleMs: wd.sampleSeconds * 1000,
      sustainedMs: wd.sustainedSeconds * 1000, restoreMs: wd.restoreSeconds * 1000, stretch: wd.stretch, restartRssFactor: wd.restartRssFactor, restartAfterMs: wd.restartAfterSeconds * 1000,
    }, (e) => this.emitFromPart(e), log.child({ part: 'watchdog' }));
    this.client = new AgentClient(stateDir, () => this.state);
    this.renewer = new Renewer(stateDir, () => this.client, config.intervals.renewalCheck * 1000, () => this.client.reload(), log.child({ part: 'renewal' }));
    this.sender = new Sender(spool, () => this.client, {
      batchEvents: config.send.batchEvents,
      maxEventsPerSecond: config.send.maxEventsPerSecond,
      backoffMaxMs: config.send.backoffMaxSeconds * 1000,
      drainJitterMs: config.send.drainJitterSeconds * 1000,
    }, log.child({ part: 'sender' }), () => this.renewer.checkNow());
    this.monitor = new HostMonitor({
      stateDir, hostId: () => this.state.hostId, policy: () => this.applied, emit: (...e) => this.emitFromPart(...e),
    }, config, log.child({ part: 'monitor' }));
    const usbLog = log.child({ part: 'usb' });
    const platform = usbPlatform({ platform: process.platform, root: '/', procfs: config.paths.procfs, sysfs: config.paths.sysfs, run: agentRunner, now: new Date() },
      (err) => usbLog.warn({ err: err.message }, 'usb read failed'));
    this.usb = platform ? new UsbControl(
      { policy: () => this.applied.policy, emit: (...e) => this.emitFromPart(...e) },
      platform.watcher, platform.enforcer,
      new UsbExceptions(stateDir, readFileSync(statePaths(stateDir).ca, 'utf8'), this.state.hostId), usbLog,
    ) : null;
    const mediaLog = log.child({ part: 'media' });
    this.mediaControl = new MediaControl({
      policy: () => this.applied.policy, emit: (...e) => this.emitFromPart(...e),
      allowedUsbIds: () => this.usb?.allowedDevices() ?? [], mounts: () => this.media.watcher?.mounts() ?? [],
    }, agentRunner, config.paths.procfs, mediaLog);
    this.media = makeMediaParts({
      config, run: agentRunner, emit: (e) => { this.emitFromPart(e).catch((err: unknown) => mediaLog.warn({ err: (err as Error).message }, 'media event not spooled')); }, auditFiles: this.applied.policy.usb.auditFiles,
      onMounted: (m) => this.mediaControl.mounted(m),
      onError: (err) => mediaLog.warn({ err: err.message }, 'media watch'),
    });
    const paths = statePaths(stateDir);
    this.egress = makeEgress(config, agentRunner, {
      policy: () => this.applied.policy, emit: (...e) => this.emitFromPart(...e),
      serverEndpoints: () => resolveServer([this.state.agentUrl, this.state.serverUrl]),
      reachServer: (ms) => tlsReach(this.state.agentUrl, { ca: paths.ca, cert: paths.cert, key: paths.key }, ms),
    }, log.child({ part: 'egress' }));
  }

  static async open(stateDir: string, config: AgentConfig, log: Logger): Promise<AgentRuntime> {
    loadState(stateDir); // refuse early, before taking the spool lock, when not enrolled
    // Said once when writes start failing and once when they work again, in the order they happen; not per event.
    const spoolLog = log.child({ part: 'spool' });
    const spool = await Spool.open(statePaths(stateDir).spool, {
      maxBytes: config.spool.maxBytes,
      onFault: (f) => spoolLog.error({ code: f.code, reason: f.reason, err: f.message },
        'spool cannot write: keeping high and critical events in memory and counting the others until it can'),
      onRecover: (r) => spoolLog.warn({ code: r.fault.code, since: r.fault.since, failures: r.fault.failures, released: r.released, dropped: r.reported },
        'spool writes again; what it could not keep is reported in agent.spool_dropped'),
    });
    return new AgentRuntime(stateDir, config, log, spool);
  }

  /**
   * Spool first, then wake the sender. Resolves on a full or failing disk too, so no part stops for
   * it: `spooled` says the events are on disk (durable); otherwise high and critical ones wait in
   * memory (`held`, written when the disk takes them again) and the others are counted (`dropped`)
   * for the next agent.spool_dropped. Rejects only for an invalid event or a closed spool.
   */
  async emit(...events: AgentEvent[]): Promise<OfferResult> {
    // Recorded before the spool takes them: a failing spool loses no evidence of what the agent did.
    for (const e of events) if (ACTION_TYPES.has(e.type)) this.actions.append(e.type, { eventId: e.id, severity: e.severity, ...e.data }, new Date(e.time));
    const r = await this.spool.offer(events);
    if (r.spooled) this.sender.notify();
    return r;
  }

  /** The parts' emit: they go on either way, so they need not look at the outcome. */
  private async emitFromPart(...events: AgentEvent[]): Promise<void> {
    await this.emit(...events);
  }

  private saveState(patch: Partial<AgentState>): void {
    this.state = { ...this.state, ...patch };
    saveState(this.stateDir, this.state);
  }

  private async applyPolicy(signal: AbortSignal): Promise<void> {
    const { version, policy } = await this.client.getPolicy(signal);
    // Seen, applied or not: the long-poll waits for the next version instead of spinning on this one.
    this.policySeen = version;
    const checked = checkPolicy(policy);
    if (!checked.ok) {
      await this.emit(newEvent('agent.policy_rejected', 'high', ['art31'], { version, error: checked.error }));
      return;
    }
    writeFileAtomic(statePaths(this.stateDir).policy, JSON.stringify({ version, policy: checked.policy }, null, 2), 0o600);
    this.applied = { version, policy: checked.policy };
    const previous = this.state.policyVersion;
    if (previous === version) return;
    this.monitor.policyChanged();
    void this.usb?.reevaluate();
    void this.media.audit?.setEnabled(checked.policy.usb.auditFiles);
    void this.mediaControl.reevaluate();
    this.egress?.policyChanged();
    this.saveState({ policyVersion: version });
    await this.emit(newEvent('agent.policy_applied', 'low', ['art31'], { policyVersion: version, previous }));
    this.log.info({ version, previous }, 'policy applied');
  }

  /**
   * Why a clean stop happened: an installer's note in the state folder (uninstall, upgrade) first,
   * then the service manager's state (systemd "stopping" = the machine shuts down), else a stop of
   * the service itself. `reason` keeps its old meaning ("stopped"), `signal` says which.
   */
  private async stopCause(signal: AbortSignal): Promise<{ reason: string; cause: string; signal?: string }> {
    const sig = (signal.reason as { signal?: unknown } | undefined)?.signal;
    const by = typeof sig === 'string' ? { signal: sig } : {};
    const p = statePaths(this.stateDir).stopReason;
    let note: string | null = null;
    try {
      note = (await readSmallFile(p, 256)).trim().toLowerCase().replace(/[^a-z0-9_-]/g, '').slice(0, 32) || null;
      rmSync(p, { force: true });
    } catch { /* no note */ }
    if (note) return { reason: 'stopped', cause: note, ...by };
    if (!by.signal) return { reason: 'stopped', cause: 'requested' }; // in-process stop (tests, embedding)
    if (process.platform === 'linux') {
      const r = await agentRunner('systemctl', ['is-system-running'], { timeoutMs: 2000 }).catch(() => null);
      const st = r?.stdout.trim();
      if (st === 'stopping') return { reason: 'stopped', cause: 'system-shutdown', ...by };
      if (st === 'running' || st === 'degraded' || st === 'starting' || st === 'maintenance') return { reason: 'stopped', cause: 'service-stop', ...by };
    }
    return { reason: 'stopped', cause: 'unknown', ...by };
  }

  writeStatus(): void {
    const s: AgentStatusFile = {
      pid: process.pid, version: VERSION, updatedAt: new Date().toISOString(), hostId: this.state.hostId,
      serverReachable: this.sender.reachable, lastContact: this.sender.lastContact, lastError: this.sender.lastError,
      policyVersion: this.state.policyVersion, spool: { ...this.spool.depth(), error: this.spool.fault() }, rejected: this.sender.rejected,
    };
    try {
      writeStatusFile(this.stateDir, s);
      this.statusFailing = false;
    } catch (err) {
      // Only informational: a disk that refuses it must not stop the agent.
      if (!this.statusFailing) this.log.warn({ err: (err as Error).message }, 'cannot write status.json');
      this.statusFailing = true;
    }
  }

  private heartbeat(): Heartbeat {
    return new Heartbeat(() => this.config.intervals.heartbeat * 1000, {
      beat: async () => {
        const mem = process.memoryUsage();
        const e = newEvent('agent.heartbeat', 'low', ['art31'], {
          policyVersion: this.state.policyVersion, uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
          rssBytes: mem.rss, spool: this.spool.depth(), version: VERSION,
          intervalSeconds: this.config.intervals.heartbeat, actionsLog: this.actions.head(),
        });
        await this.emit(e);
        return e.id;
      },
      delivered: (id, ms, signal) => this.sender.delivered(id, ms, signal),
    });
  }

  private statusWriter(): Part {
    return {
      name: 'status',
      run: async (signal) => {
        while (!signal.aborted) {
          // Events a failed write left in memory go out with the next emit, or here if none comes.
          if (this.spool.fault()) await this.spool.retry();
          this.writeStatus();
          await sleep(this.config.intervals.status * 1000, signal);
        }
      },
    };
  }

  private commands(pace: Heartbeat): CommandPoller {
    return new CommandPoller(() => this.client, {
      policyVersion: () => this.policySeen,
      cursor: () => this.state.commandCursor,
      setCursor: (seq) => this.saveState({ commandCursor: seq }),
      policyChanged: (_v, signal) => this.applyPolicy(signal),
      command: async (c) => {
        this.log.info({ type: c.type, seq: c.seq }, 'server command');
        if (c.type === 'cert.renew') await this.renewer.renewOnce(true);
        else if (c.type === 'attest') this.monitor.requestAttestation();
        else if (c.type === 'usb.exception' && this.usb) await this.usb.addException(c.payload);
        else if (c.type === 'drill') await this.emit(newEvent('drill', 'high', ['art16', 'art24', 'art25'], { ...c.payload, commandSeq: c.seq }));
        else await this.emit(newEvent('agent.command_unsupported', 'low', [], { type: c.type, seq: c.seq }));
      },
      certificateError: () => this.renewer.checkNow(),
    }, this.config.intervals.commandsWait, this.log.child({ part: 'commands' }), pace);
  }

  /**
   * Add a long-running part to the group `run` starts (before run). A part that implements
   * Sheddable is also handed to the watchdog.
   */
  addPart(part: Part): this {
    this.extraParts.push(part);
    return this;
  }

  /** Run until `signal` aborts; then report agent.stopped and try to deliver it briefly. */
  async run(signal: AbortSignal): Promise<void> {
    // Checked at start: the server compares the head with the one its last heartbeats carried.
    const log = verifyActionsLog(this.actions.path);
    if (!log.ok) this.log.error({ problem: log.problem, firstBadSeq: log.firstBadSeq }, 'actions.log chain is broken');
    await this.emit(newEvent('agent.started', 'low', ['art31'], {
      version: VERSION, protocol: PROTOCOL_VERSION, pid: process.pid, platform: process.platform, arch: process.arch,
      hostname: hostname(), node: process.versions.node, policyVersion: this.state.policyVersion,
      intervalSeconds: this.config.intervals.heartbeat,
      actionsLog: { entries: log.entries, ok: log.ok, firstBadSeq: log.firstBadSeq, problem: log.problem, head: log.head },
    }));
    // Heartbeats pace the long-poll, so an idle agent's beat rides the poll's connection.
    const beats = this.heartbeat();
    const group = new Supervisor(this.log)
      .add(this.sender).add(beats).add(this.commands(beats)).add(this.renewer).add(this.statusWriter()).add(this.monitor)
      .add(this.watchdog);
    this.watchdog.register(this.monitor);
    if (this.usb) group.add(this.usb);
    for (const p of this.media.parts) group.add(p);
    if (this.egress) {
      group.add(this.egress);
      this.watchdog.register(this.egress);
    }
    for (const p of this.extraParts) {
      group.add(p);
      if (isSheddable(p)) this.watchdog.register(p);
    }
    let failure: unknown;
    try {
      await group.run(signal);
    } catch (e) {
      failure = e;
    }
    await this.emit(newEvent('agent.stopped', failure ? 'medium' : 'low', ['art31'], {
      ...(failure
        ? { reason: `failed: ${(failure as Error).message}`, cause: failure instanceof WatchdogTripped ? 'watchdog' : 'failed' }
        : await this.stopCause(signal)),
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
    }));
    const flushing = AbortSignal.timeout(3000);
    await this.sender.flush(flushing);
    this.writeStatus();
    this.client.close();
    if (this.spool.fault()) await this.spool.retry();
    const { held, unreported } = this.spool.depth();
    if (held || unreported) this.log.error({ held, unreported }, 'spool still cannot write; these events end with the agent');
    await this.spool.close();
    this.actions.close();
    if (failure) throw failure;
  }
}
