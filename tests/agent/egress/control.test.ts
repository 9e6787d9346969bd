/** The control loop against a scripted platform: classification, aggregation, socket events, enforcement decisions. */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EgressControl, type EgressPlatform, type SocketEventLike } from '../../../agent/egress/control.js';
import type { BlockedCounts, FirewallEnforcer } from '../../../agent/egress/enforcer.js';
import type { PathSnapshot } from '../../../agent/egress/paths.js';
import type { Conn, EnforcementPlan } from '../../../agent/egress/types.js';
import type { AgentEvent } from '../../../shared/events.js';
import { PolicySchema, type Policy } from '../../../shared/policy.js';

const log = pino({ level: 'silent' });
const OPTS = { pollMs: 1000, probeSeconds: 3600, aggregateSeconds: 3600, blockedSeconds: 1, retrySeconds: 3600, verifyAttempts: 2, verifyTimeoutMs: 100, probeTimeoutMs: 500, fullReadSeconds: 30 };

function conn(p: Partial<Conn>): Conn {
  return { proto: 'tcp', family: 4, localAddress: '10.0.0.5', localPort: 40000, remoteAddress: '203.0.113.10', remotePort: 443, state: 'established', pid: null, ...p };
}

class FakeEnforcer implements FirewallEnforcer {
  readonly kind = 'fake';
  hash: string | null = null;
  applied: string[] = [];
  removed = 0;
  failApply = false;
  counted: BlockedCounts = { packets: 0, bytes: 0, destinations: [] };
  async installed() { return this.hash; }
  async apply(_plan: EnforcementPlan, hash: string) {
    if (this.failApply) throw new Error('nft: syntax error');
    this.applied.push(hash);
    this.hash = hash;
  }
  async remove() { this.removed++; this.hash = null; }
  async counts() { return this.counted; }
}

function setup(opts: { enforcer?: FakeEnforcer | null; reach?: () => boolean; policy?: Partial<Policy['egress']> } = {}) {
  let rows: Conn[] = [];
  let paths: PathSnapshot = { interfaces: [], defaultRoutes: [{ family: 4, interface: 'eth0', gateway: '10.0.0.1' }], proxies: [] };
  let onEvent: ((e: SocketEventLike) => void) | null = null;
  const events: AgentEvent[] = [];
  let policy = PolicySchema.parse({ egress: { allow: ['10.0.0.0/8', '198.18.0.0/15:443'], ...opts.policy } });
  const attributed: Conn[] = [];
  const platform: EgressPlatform = {
    readConnections: async () => rows.map((r) => ({ ...r })),
    attribute: (list) => { for (const c of list) { attributed.push(c); c.process = c.pid ? { pid: c.pid, name: 'curl', exe: '/usr/bin/curl', user: 'alice' } : null; } },
    watchSockets: (cb) => { onEvent = cb; return () => { onEvent = null; }; },
    readPaths: async () => paths,
    dnsServers: async () => [{ address: '10.0.0.53', family: 4 }],
    enforcer: opts.enforcer === undefined ? new FakeEnforcer() : opts.enforcer,
  };
  const control = new EgressControl(platform, {
    policy: () => policy,
    emit: async (...e) => { events.push(...e); },
    serverEndpoints: async () => [{ address: '198.51.100.7', family: 4, port: 8443 }],
    reachServer: async () => (opts.reach ?? (() => true))(),
  }, OPTS, log);
  return {
    control, events, attributed,
    of: (type: string) => events.filter((e) => e.type === type),
    setRows: (r: Conn[]) => { rows = r; },
    setPaths: (p: PathSnapshot) => { paths = p; },
    setPolicy: (e: Partial<Policy['egress']>) => { policy = PolicySchema.parse({ egress: { ...policy.egress, ...e } }); control.policyChanged(); },
    socketEvent: (e: SocketEventLike) => onEvent!(e),
    start: () => { const ac = new AbortController(); const done = control.run(ac.signal); return async () => { ac.abort(); await done; }; },
  };
}

describe('egress control', () => {
  it('reports a violation once with its process, then only counts repeats; allowed and always-allowed stay quiet', async () => {
    const t = setup();
    t.setRows([
      conn({ remoteAddress: '10.1.2.3', remotePort: 22 }),
      conn({ localPort: 40001, remoteAddress: '198.18.5.5', remotePort: 443 }),
      conn({ localPort: 40002, remoteAddress: '198.51.100.7', remotePort: 8443 }), // the server
      conn({ localPort: 40003, remoteAddress: '10.0.0.53', remotePort: 53, proto: 'udp', state: 'connected' }),
      conn({ localPort: 40004, remoteAddress: '127.0.0.1', remotePort: 5432 }),
      conn({ localPort: 40005, pid: 77 }),
      conn({ localPort: 8080, state: 'listen', remoteAddress: '0.0.0.0', remotePort: 0 }),
    ]);
    await t.control.turn();
    const v = t.of('egress.violation');
    expect(v).toHaveLength(1);
    expect(v[0]!.data).toMatchObject({ direction: 'outbound', remoteAddress: '203.0.113.10', remotePort: 443, count: 1, source: 'table', process: { pid: 77, exe: '/usr/bin/curl', user: 'alice' } });
    expect(t.attributed.map((c) => c.localPort)).toEqual([40005]); // only violations pay for attribution
    await t.control.turn(); // same socket again: nothing new
    t.setRows([conn({ localPort: 40006, pid: 77 }), conn({ localPort: 40007, pid: 77 })]);
    await t.control.turn();
    expect(t.of('egress.violation')).toHaveLength(1);
    await (t.control as unknown as { flushAggregates(final: boolean): Promise<void> }).flushAggregates(false);
    const repeat = t.of('egress.violation')[1]!;
    expect(repeat.data).toMatchObject({ repeat: true, count: 3, newSinceLastReport: 2 });
  });

  it('skips the full table read while the quick signature is unchanged and no socket event came in', async () => {
    const t = setup();
    let reads = 0;
    let sig = 'a';
    const p = (t.control as unknown as { platform: EgressPlatform }).platform;
    const read = p.readConnections;
    p.readConnections = async () => { reads++; return read(); };
    p.quickSignature = () => sig;
    await t.control.turn();
    await t.control.turn();
    await t.control.turn();
    expect(reads).toBe(1);
    sig = 'b';
    await t.control.turn();
    expect(reads).toBe(2);
    const stop = t.start();
    await new Promise((r) => setTimeout(r, 20));
    t.socketEvent({ source: 'ss', proto: 'tcp', localAddress: '10.0.0.5', localPort: 1, remoteAddress: '10.1.1.1', remotePort: 2 });
    await t.control.turn();
    await stop();
    expect(reads).toBe(3); // the run loop's own turn saw the same signature and no event: skipped
  });

  it('a sighting without a process is counted with the destination it belongs to, not raised again', async () => {
    const t = setup();
    t.setRows([conn({ localPort: 42000, pid: 9 })]);
    await t.control.turn();
    t.setRows([conn({ localPort: 42001, state: 'time_wait', pid: null })]);
    await t.control.turn();
    expect(t.of('egress.violation')).toHaveLength(1);
    await (t.control as unknown as { flushAggregates(final: boolean): Promise<void> }).flushAggregates(false);
    expect(t.of('egress.violation')[1]!.data).toMatchObject({ repeat: true, count: 2, process: { pid: 9 } });
  });

  it('inbound connections to a listening port from outside the allow list are violations (art28)', async () => {
    const t = setup();
    t.setRows([
      conn({ localPort: 22, state: 'listen', remoteAddress: '0.0.0.0', remotePort: 0 }),
      conn({ localPort: 22, remoteAddress: '203.0.113.99', remotePort: 51000 }),
      conn({ localPort: 22, remoteAddress: '198.18.9.9', remotePort: 51001 }), // peer in an allowed range (any port)
    ]);
    await t.control.turn();
    const v = t.of('egress.violation');
    expect(v.map((e) => [e.data.direction, e.data.remoteAddress])).toEqual([['inbound', '203.0.113.99']]);
    expect(v[0]!.articles).toEqual(['art28', 'art31']);
  });

  it('socket events add connections the table never showed, and not those it did', async () => {
    const t = setup();
    const stop = t.start();
    await new Promise((r) => setTimeout(r, 50));
    t.setRows([conn({ localPort: 41000, pid: 5 })]);
    await t.control.turn();
    t.socketEvent({ source: 'ss', proto: 'tcp', localAddress: '10.0.0.5', localPort: 41000, remoteAddress: '203.0.113.10', remotePort: 443 }); // seen already
    t.socketEvent({ source: 'ss', proto: 'tcp', localAddress: '10.0.0.5', localPort: 41001, remoteAddress: '203.0.113.77', remotePort: 80 });
    t.socketEvent({ source: 'ss', proto: 'tcp', localAddress: '10.0.0.5', localPort: 41002, remoteAddress: '10.9.9.9', remotePort: 80 }); // allowed
    await t.control.turn();
    await stop();
    const v = t.of('egress.violation').filter((e) => !e.data.repeat);
    expect(v.map((e) => [e.data.remoteAddress, e.data.source, e.data.state])).toEqual([['203.0.113.10', 'table', 'established'], ['203.0.113.77', 'ss', 'closed']]);
  });

  it('paths: standing second paths at start, then changes; a change re-runs probes', async () => {
    const t = setup();
    t.setPaths({ interfaces: [{ name: 'wlan0', type: 'wifi', up: true, driver: 'iwlwifi', usb: null }], defaultRoutes: [], proxies: [] });
    await t.control.turn();
    expect(t.of('egress.interface').map((e) => [e.data.change, e.data.interface, e.severity])).toEqual([['up', 'wlan0', 'high']]);
    t.setPaths({ interfaces: [{ name: 'wlan0', type: 'wifi', up: true, driver: 'iwlwifi', usb: null }, { name: 'usb0', type: 'usb', up: true, driver: 'rndis_host', usb: { busid: '1-2', vendorId: '18d1', productId: '4ee3', manufacturer: 'Google', product: 'Pixel', serial: 'X' } }], defaultRoutes: [], proxies: [] });
    await t.control.turn();
    expect(t.of('egress.interface')[1]!.data).toMatchObject({ change: 'added', interface: 'usb0', type: 'usb', usb: { vendorId: '18d1', product: 'Pixel' } });
  });

  it('enforcement: applied once verified; an agent restart with the same rules in force does not re-apply; enforce:false removes', async () => {
    const enf = new FakeEnforcer();
    const t = setup({ enforcer: enf, policy: { enforce: true } });
    await t.control.turn();
    expect(enf.applied).toHaveLength(1);
    expect(t.of('egress.enforcement').map((e) => e.data.state)).toEqual(['applied']);
    const t2 = setup({ enforcer: enf, policy: { enforce: true } });
    await t2.control.turn();
    expect(enf.applied).toHaveLength(1);
    expect(t2.of('egress.enforcement')).toEqual([]);
    t2.setPolicy({ enforce: false });
    await t2.control.turn();
    expect(enf.removed).toBe(1);
    expect(t2.of('egress.enforcement').map((e) => e.data.state)).toEqual(['removed']);
  });

  it('rolls back to the previous rules when the server is lost after applying new ones', async () => {
    const enf = new FakeEnforcer();
    let reach = true;
    const t = setup({ enforcer: enf, reach: () => reach, policy: { enforce: true } });
    await t.control.turn();
    const first = enf.hash;
    reach = false;
    t.setPolicy({ allow: ['10.0.0.0/8'] });
    await t.control.turn();
    expect(enf.applied).toEqual([first, expect.not.stringMatching(first!), first]);
    expect(enf.hash).toBe(first);
    const rb = t.of('egress.enforcement').at(-1)!;
    expect(rb.data).toMatchObject({ state: 'rolled_back', restored: first });
    expect(rb.severity).toBe('high');
  });

  it('with no previous rules a rollback removes them; a failing firewall is reported, not thrown', async () => {
    const enf = new FakeEnforcer();
    const t = setup({ enforcer: enf, reach: () => false, policy: { enforce: true } });
    await t.control.turn();
    expect(enf.hash).toBeNull();
    expect(enf.removed).toBe(1);
    expect(t.of('egress.enforcement').map((e) => e.data.state)).toEqual(['rolled_back']);
    const bad = new FakeEnforcer();
    bad.failApply = true;
    const t2 = setup({ enforcer: bad, policy: { enforce: true } });
    await t2.control.turn();
    expect(t2.of('egress.enforcement')[0]!.data).toMatchObject({ state: 'failed', reason: 'nft: syntax error' });
  });

  it('no firewall on this platform: enforce is reported unsupported once', async () => {
    const t = setup({ enforcer: null, policy: { enforce: true } });
    await t.control.turn();
    await t.control.turn();
    expect(t.of('egress.enforcement').map((e) => e.data.state)).toEqual(['unsupported']);
  });

  it('egress.blocked reports the new drops per destination', async () => {
    const enf = new FakeEnforcer();
    const t = setup({ enforcer: enf, policy: { enforce: true } });
    await t.control.turn();
    enf.counted = { packets: 5, bytes: 300, destinations: [{ address: '203.0.113.10', packets: 5, bytes: 300 }] };
    await new Promise((r) => setTimeout(r, 1100));
    await t.control.turn();
    enf.counted = { packets: 8, bytes: 480, destinations: [{ address: '203.0.113.10', packets: 6, bytes: 360 }, { address: '203.0.113.20', packets: 2, bytes: 120 }] };
    await new Promise((r) => setTimeout(r, 1100));
    await t.control.turn();
    const b = t.of('egress.blocked');
    expect(b.map((e) => e.data.packets)).toEqual([5, 3]);
    expect(b[1]!.data.destinations).toEqual([{ address: '203.0.113.20', packets: 2, totalPackets: 2 }, { address: '203.0.113.10', packets: 1, totalPackets: 6 }]);
  });
});
