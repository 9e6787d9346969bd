/**
 * Snapshots in, change events out (the differ). Pure: the previous and next section data, and
 * the events a security officer should see between two full inventories.
 */
import { newEvent, type AgentEvent } from '../../shared/events.js';
import type { AntimalwareData, ListeningData, SoftwareData, UsersData } from '../../shared/inventory.js';

export function diffSoftware(prev: SoftwareData, next: SoftwareData): AgentEvent[] {
  const key = (p: { name: string; arch: string | null }) => `${p.name}\u0000${p.arch ?? ''}`;
  const before = new Map(prev.packages.map((p) => [key(p), p]));
  const after = new Map(next.packages.map((p) => [key(p), p]));
  const installed = [...after.entries()].filter(([k]) => !before.has(k)).map(([, p]) => ({ name: p.name, version: p.version, arch: p.arch }));
  const removed = [...before.entries()].filter(([k]) => !after.has(k)).map(([, p]) => ({ name: p.name, version: p.version, arch: p.arch }));
  const updated = [...after.entries()].flatMap(([k, p]) => {
    const old = before.get(k);
    return old && old.version !== p.version ? [{ name: p.name, arch: p.arch, from: old.version, to: p.version }] : [];
  });
  if (!installed.length && !removed.length && !updated.length) return [];
  return [newEvent('host.software_changed', 'medium', ['art10', 'art30'], { source: next.source, installed, removed, updated })];
}

export function diffListening(prev: ListeningData, next: ListeningData): AgentEvent[] {
  const key = (s: ListeningData['sockets'][number]) => `${s.protocol}/${s.family}/${s.address}/${s.port}`;
  const before = new Set(prev.sockets.map(key));
  const fresh = next.sockets.filter((s) => !before.has(key(s)));
  return fresh.length ? [newEvent('host.listening_new', 'medium', ['art18', 'art28'], { sockets: fresh })] : [];
}

export function diffAdmins(prev: UsersData, next: UsersData): AgentEvent[] {
  const before = new Set(prev.accounts.filter((a) => a.admin).map((a) => a.id + '\u0000' + a.name));
  const added = next.accounts.filter((a) => a.admin && !before.has(a.id + '\u0000' + a.name)).map((a) => ({ name: a.name, id: a.id }));
  return added.length ? [newEvent('host.admin_added', 'high', ['art9', 'art18'], { accounts: added })] : [];
}

export function diffAntimalware(prev: AntimalwareData, next: AntimalwareData): AgentEvent[] {
  const was = new Map(prev.products.map((p) => [p.product, p]));
  const off = next.products.filter((p) => {
    const old = was.get(p.product);
    return old && old.present && old.enabled !== false && (!p.present || p.enabled === false);
  }).map((p) => ({ product: p.product, present: p.present, enabled: p.enabled }));
  return off.length ? [newEvent('host.antimalware_disabled', 'high', ['art18', 'art30'], { products: off })] : [];
}
