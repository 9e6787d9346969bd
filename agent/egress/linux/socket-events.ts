/**
 * Short-lived connections: a poll every second misses a socket that lives 50 ms, so two long-lived
 * children report them as they happen — `ss -E` (sock_diag destroy events: both addresses, about
 * 0.2 ms after close, no process) and `conntrack -E` (new flows, when the kernel tracks them; silent
 * in a namespace until some nftables rule uses `ct`). Both are read line by line through
 * `stdbuf -oL` (a plain pipe would buffer them), and restarted with backoff if they exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { isIP } from 'node:net';
import type { Proto } from '../types.js';

export interface SocketEvent {
  source: 'ss' | 'conntrack';
  proto: Proto;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** `addr:port`, `[v6]:port`, `[v6%if]:port`, `addr%if:port` → parts; null when malformed. */
export function splitEndpoint(text: string): { address: string; port: number } | null {
  const i = text.lastIndexOf(':');
  if (i <= 0) return null;
  const port = Number(text.slice(i + 1));
  let address = text.slice(0, i);
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  address = address.replace(/%.*$/, '');
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !isIP(address)) return null;
  return { address, port };
}

/** One line of `ss -E -tunH`: `tcp UNCONN 0 0 198.18.1.2:59552 203.0.113.10:80` (Netid State Recv-Q Send-Q Local Peer). */
export function parseSsEvent(line: string): SocketEvent | null {
  const f = line.trim().split(/\s+/);
  if (f.length < 6) return null;
  const proto = f[0] === 'tcp' ? 'tcp' : f[0] === 'udp' ? 'udp' : null;
  const local = splitEndpoint(f[4]!);
  const remote = splitEndpoint(f[5]!);
  if (!proto || !local || !remote || remote.port === 0) return null;
  return { source: 'ss', proto, localAddress: local.address, localPort: local.port, remoteAddress: remote.address, remotePort: remote.port };
}

/**
 * One line of `conntrack -E -e NEW`: `[NEW] tcp 6 120 SYN_SENT src=A dst=B sport=P dport=Q [UNREPLIED] src=B …`.
 * The first src/dst/sport/dport tuple is the original direction (who opened it).
 */
export function parseConntrackEvent(line: string): SocketEvent | null {
  const m = /^\s*(?:\[\d+\.\d+\]\s*)?\[NEW\]\s+(tcp|udp)\s+\d+\s+\d+\s+(?:[A-Z_]+\s+)?src=(\S+)\s+dst=(\S+)\s+sport=(\d+)\s+dport=(\d+)/.exec(line);
  if (!m) return null;
  const [, proto, src, dst, sport, dport] = m;
  if (!isIP(src!) || !isIP(dst!)) return null;
  return { source: 'conntrack', proto: proto as Proto, localAddress: src!, localPort: Number(sport), remoteAddress: dst!, remotePort: Number(dport) };
}

export interface StreamOptions<T = SocketEvent> {
  cmd: string;
  args: string[];
  parse: (line: string) => T | null;
  onEvent: (e: T) => void;
  onExit?: (why: string) => void;
  /** Longest wait before a restart. */
  maxBackoffMs?: number;
}

/** A long-lived child whose stdout lines become events. */
export class EventStream<T = SocketEvent> {
  private child: ChildProcess | null = null;
  private stopped = false;
  private backoff = 500;
  private timer: NodeJS.Timeout | null = null;
  readonly stats = { lines: 0, events: 0, malformed: 0, restarts: 0 };

  constructor(private readonly o: StreamOptions<T>) {}

  start(): void {
    if (this.stopped || this.child) return;
    let child: ChildProcess;
    try {
      child = spawn(this.o.cmd, this.o.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } catch (e) {
      this.exited(`cannot run ${this.o.cmd}: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    const started = Date.now();
    let rest = '';
    let err = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      if (rest.length > 64 * 1024) rest = '';
      for (const line of lines) {
        if (!line.trim()) continue;
        this.stats.lines++;
        const e = this.o.parse(line);
        if (e) { this.stats.events++; this.o.onEvent(e); } else this.stats.malformed++;
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => { if (err.length < 4096) err += s; });
    child.on('error', (e) => { err += e.message; });
    child.on('close', (code, sig) => {
      this.child = null;
      if (Date.now() - started > 60_000) this.backoff = 500;
      this.exited(`${this.o.cmd} exited (${sig ?? code})${err ? `: ${err.trim().slice(0, 300)}` : ''}`);
    });
  }

  private exited(why: string): void {
    if (this.stopped) return;
    this.o.onExit?.(why);
    this.stats.restarts++;
    this.timer = setTimeout(() => { this.timer = null; this.start(); }, this.backoff);
    this.timer.unref();
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 60_000);
  }

  get running(): boolean {
    return this.child !== null;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    this.child = null;
  }
}
