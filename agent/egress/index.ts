/** The egress part for this OS, and the runtime's links to the server it must keep reachable. */
import { lookup } from 'node:dns/promises';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config.js';
import type { Runner } from '../exec.js';
import { EgressControl, type EgressDeps, type EgressPlatform } from './control.js';
import { linuxEgress } from './linux/index.js';
import { darwinEgress, win32Egress } from './platforms.js';
import type { Family } from './types.js';

export function egressPlatform(config: AgentConfig, run: Runner, platform: NodeJS.Platform = process.platform): EgressPlatform | null {
  if (platform === 'linux') {
    return linuxEgress({ procfs: config.paths.procfs, sysfs: config.paths.sysfs, root: '/', run, socketEvents: config.egress.socketEvents, nft: config.egress.nft });
  }
  const ctx = { platform, root: '/', procfs: config.paths.procfs, sysfs: config.paths.sysfs, run, now: new Date() };
  if (platform === 'win32') return win32Egress(run, config.egress.pollMs, ctx);
  if (platform === 'darwin') return darwinEgress(run, ctx);
  return null;
}

/** Every address the server URLs resolve to, with their ports. */
export async function resolveServer(urls: string[]): Promise<{ address: string; family: Family; port: number }[]> {
  const out = new Map<string, { address: string; family: Family; port: number }>();
  for (const u of urls) {
    let url: URL;
    try { url = new URL(u); } catch { continue; }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const addrs = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true }).catch(() => []);
    for (const a of addrs) out.set(`${a.address}|${port}`, { address: a.address, family: a.family as Family, port });
  }
  return [...out.values()];
}

/** A fresh TLS handshake with the agent's own identity: the server answered through the rules. */
export function tlsReach(url: string, files: { ca: string; cert: string; key: string }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let u: URL;
    try { u = new URL(url); } catch { resolve(false); return; }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    let s: ReturnType<typeof tlsConnect>;
    try {
      s = tlsConnect({
        host, port: Number(u.port || 443), servername: isIP(host) ? undefined : host,
        ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), minVersion: 'TLSv1.2',
      });
    } catch {
      resolve(false);
      return;
    }
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('secureConnect', () => { clearTimeout(t); s.end(); resolve(true); });
    s.once('error', () => { clearTimeout(t); s.destroy(); resolve(false); });
  });
}

export function makeEgress(config: AgentConfig, run: Runner, deps: EgressDeps, log: Logger): EgressControl | null {
  const platform = egressPlatform(config, run);
  if (!platform) return null;
  const e = config.egress;
  return new EgressControl(platform, deps, {
    pollMs: e.pollMs, probeSeconds: e.probeSeconds, aggregateSeconds: e.aggregateSeconds, blockedSeconds: e.blockedSeconds,
    retrySeconds: e.retrySeconds, verifyAttempts: e.verifyAttempts, verifyTimeoutMs: e.verifyTimeoutMs, probeTimeoutMs: e.probeTimeoutMs, fullReadSeconds: e.fullReadSeconds,
  }, log);
}
