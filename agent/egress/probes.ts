/**
 * Internet reachability probes of institution-owned canaries (policy `egress.probes`): a success is
 * the proof art29 forbids. `tcp://host:port` connects, `dns:name` resolves through the host's own
 * resolvers, `http(s)://…` asks for a response (any status). The default policy has none: the agent
 * never reaches out on its own.
 */
import { connect, isIP, type Socket } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';

export interface ProbeResult {
  probe: string;
  reachable: boolean;
  /** Address actually reached (tcp/http) or the answers (dns). */
  address: string | null;
  /** Our end of the connection, to tell the path. */
  localAddress: string | null;
  interface: string | null;
  latencyMs: number;
  detail: string;
}

/** The interface that owns a local address. */
export function interfaceOf(localAddress: string | null): string | null {
  if (!localAddress) return null;
  const a = localAddress.replace(/^::ffff:/, '');
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((x) => x.address === a)) return name;
  }
  return null;
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; address: string | null; local: string | null; detail: string }> {
  return new Promise((resolve) => {
    let s: Socket;
    const done = (ok: boolean, detail: string) => {
      const r = { ok, address: s.remoteAddress ?? null, local: s.localAddress ?? null, detail };
      s.destroy();
      resolve(r);
    };
    s = connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => done(true, 'connected'));
    s.once('timeout', () => done(false, `no answer within ${timeoutMs} ms`));
    s.once('error', (e: NodeJS.ErrnoException) => done(false, e.code ?? e.message));
  });
}

function httpProbe(url: URL, timeoutMs: number): Promise<{ ok: boolean; address: string | null; local: string | null; detail: string }> {
  return new Promise((resolve) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'GET', timeout: timeoutMs, agent: false, headers: { 'user-agent': 'termguard-probe' },
      // A canary behind an institution CA we do not carry is still an answer from the internet.
      ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
    }, (res) => {
      const s = res.socket;
      const r = { ok: true, address: s.remoteAddress ?? null, local: s.localAddress ?? null, detail: `HTTP ${res.statusCode}` };
      res.resume();
      req.destroy();
      resolve(r);
    });
    req.once('timeout', () => { req.destroy(); resolve({ ok: false, address: null, local: null, detail: `no answer within ${timeoutMs} ms` }); });
    req.once('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, address: null, local: null, detail: e.code ?? e.message }));
    req.end();
  });
}

async function dnsProbe(name: string, timeoutMs: number, servers?: string[]): Promise<{ ok: boolean; address: string | null; local: string | null; detail: string }> {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers?.length) r.setServers(servers);
  const answers: string[] = [];
  const errors: string[] = [];
  for (const q of [r.resolve4.bind(r), r.resolve6.bind(r)]) {
    try {
      answers.push(...(await q(name)));
    } catch (e) {
      errors.push((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
  }
  return answers.length
    ? { ok: true, address: answers.slice(0, 8).join(','), local: null, detail: `resolved to ${answers.length} address(es)` }
    : { ok: false, address: null, local: null, detail: errors.join(', ') };
}

/** Run one probe; never throws. `dnsServers` overrides the system resolvers (tests). */
export async function runProbe(probe: string, opts: { timeoutMs?: number; dnsServers?: string[] } = {}): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const t0 = performance.now();
  let r: { ok: boolean; address: string | null; local: string | null; detail: string };
  if (probe.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/.exec(probe);
    if (!m) r = { ok: false, address: null, local: null, detail: 'malformed probe' };
    else {
      const host = m[1]!.replace(/^\[|\]$/g, '');
      r = await tcpProbe(host, Number(m[2]), timeoutMs);
    }
  } else if (probe.startsWith('dns:')) {
    r = await dnsProbe(probe.slice(4), timeoutMs, opts.dnsServers);
  } else if (probe.startsWith('http://') || probe.startsWith('https://')) {
    let url: URL | null = null;
    try { url = new URL(probe); } catch { /* below */ }
    r = url ? await httpProbe(url, timeoutMs) : { ok: false, address: null, local: null, detail: 'malformed probe' };
  } else r = { ok: false, address: null, local: null, detail: 'unknown probe kind' };
  const address = r.address && isIP(r.address.replace(/^::ffff:/, '')) ? r.address.replace(/^::ffff:/, '') : r.address;
  return {
    probe, reachable: r.ok, address, localAddress: r.local?.replace(/^::ffff:/, '') ?? null, interface: interfaceOf(r.local),
    latencyMs: Math.round(performance.now() - t0), detail: r.detail,
  };
}
