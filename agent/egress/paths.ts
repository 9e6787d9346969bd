/**
 * Second paths out of the terminal (art29): interfaces, default routes and proxy settings, read as a
 * snapshot and diffed. A new interface, one coming up, Wi-Fi, cellular, USB tethering, a second
 * default route or a proxy each become an `egress.interface` event; a network change also re-runs
 * the reachability probes.
 */
import type { InterfaceType } from '../../shared/inventory.js';
import type { Family } from './types.js';

export interface UsbOrigin {
  /** Kernel device name, e.g. `1-2`. */
  busid: string;
  vendorId: string | null;
  productId: string | null;
  manufacturer: string | null;
  product: string | null;
  serial: string | null;
}

export interface IfaceState {
  name: string;
  type: InterfaceType;
  up: boolean;
  driver: string | null;
  /** The USB device behind the interface (tethering, USB NIC, modem). */
  usb: UsbOrigin | null;
}

export interface DefaultRoute { family: Family; interface: string; gateway: string | null }
export interface ProxySetting { source: string; proxy: string }

export interface PathSnapshot {
  interfaces: IfaceState[];
  defaultRoutes: DefaultRoute[];
  proxies: ProxySetting[];
}

export type PathChange =
  | { change: 'added' | 'removed' | 'up' | 'down'; interface: IfaceState }
  | { change: 'default_route_added' | 'default_route_removed'; route: DefaultRoute; defaultRoutes: number }
  | { change: 'proxy_set' | 'proxy_cleared'; proxy: ProxySetting };

const SECOND_PATH_TYPES = new Set<InterfaceType>(['wifi', 'cellular', 'usb']);

/** Interfaces that are second paths by their nature, whatever their routes. */
export function isSecondPathType(t: InterfaceType): boolean {
  return SECOND_PATH_TYPES.has(t);
}

const routeKey = (r: DefaultRoute) => `${r.family}|${r.interface}|${r.gateway ?? ''}`;
const proxyKey = (p: ProxySetting) => `${p.source}|${p.proxy}`;

/**
 * What changed from `prev` to `next`. With no `prev` (start-up), the standing risks are reported:
 * second-path interfaces that are up, every default route beyond the first, every proxy.
 */
export function diffPaths(prev: PathSnapshot | null, next: PathSnapshot): PathChange[] {
  const out: PathChange[] = [];
  if (!prev) {
    for (const i of next.interfaces) if (i.up && isSecondPathType(i.type)) out.push({ change: 'up', interface: i });
    for (const fam of [4, 6] as const) {
      const routes = next.defaultRoutes.filter((r) => r.family === fam);
      for (const r of routes.slice(1)) out.push({ change: 'default_route_added', route: r, defaultRoutes: routes.length });
    }
    for (const p of next.proxies) out.push({ change: 'proxy_set', proxy: p });
    return out;
  }
  const before = new Map(prev.interfaces.map((i) => [i.name, i]));
  const after = new Map(next.interfaces.map((i) => [i.name, i]));
  for (const [name, i] of after) {
    const old = before.get(name);
    if (!old) out.push({ change: 'added', interface: i });
    else if (i.up && !old.up) out.push({ change: 'up', interface: i });
    else if (!i.up && old.up) out.push({ change: 'down', interface: i });
  }
  for (const [name, i] of before) if (!after.has(name)) out.push({ change: 'removed', interface: i });
  const oldRoutes = new Set(prev.defaultRoutes.map(routeKey));
  const newRoutes = new Set(next.defaultRoutes.map(routeKey));
  for (const r of next.defaultRoutes) {
    if (!oldRoutes.has(routeKey(r))) out.push({ change: 'default_route_added', route: r, defaultRoutes: next.defaultRoutes.filter((x) => x.family === r.family).length });
  }
  for (const r of prev.defaultRoutes) {
    if (!newRoutes.has(routeKey(r))) out.push({ change: 'default_route_removed', route: r, defaultRoutes: next.defaultRoutes.filter((x) => x.family === r.family).length });
  }
  const oldProxies = new Set(prev.proxies.map(proxyKey));
  const newProxies = new Set(next.proxies.map(proxyKey));
  for (const p of next.proxies) if (!oldProxies.has(proxyKey(p))) out.push({ change: 'proxy_set', proxy: p });
  for (const p of prev.proxies) if (!newProxies.has(proxyKey(p))) out.push({ change: 'proxy_cleared', proxy: p });
  return out;
}

/** Severity of a change: a second path opening is high; closing or ordinary links are low. */
export function changeSeverity(c: PathChange): 'low' | 'medium' | 'high' {
  switch (c.change) {
    case 'added':
    case 'up':
      return isSecondPathType(c.interface.type) || c.interface.usb ? 'high' : 'medium';
    case 'default_route_added':
      return c.defaultRoutes > 1 ? 'high' : 'medium';
    case 'proxy_set':
      return 'high';
    default:
      return 'low';
  }
}

/** Proxy variables of an environment (curl, apt, pip and most tools honour them). */
export function envProxies(env: Record<string, string | undefined>, source = 'environment'): ProxySetting[] {
  const out: ProxySetting[] = [];
  for (const k of ['http_proxy', 'https_proxy', 'all_proxy', 'ftp_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'FTP_PROXY']) {
    const v = env[k]?.trim();
    if (v) out.push({ source: `${source}:${k}`, proxy: v.slice(0, 512) });
  }
  return out;
}

/** `/etc/environment`: `KEY=value` lines, optionally quoted. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}
