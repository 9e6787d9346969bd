/** UsbControl with a fake watcher and enforcer: the logic every platform shares. */
import { describe, it, expect } from 'vitest';
import pino from 'pino';
import { UsbControl, type UsbChange, type UsbEnforcer, type UsbWatcher } from '../../../agent/usb/control.js';
import { UsbExceptions } from '../../../agent/usb/exceptions.js';
import { PolicySchema, type Policy } from '../../../shared/policy.js';
import type { AgentEvent } from '../../../shared/events.js';
import type { UsbDevice } from '../../../shared/usb.js';
import { createCa } from '../../../server/pki/ca.js';
import { signUsbException } from '../../../shared/usb-exception.js';
import { tempDir } from '../../helpers/server.js';

const stick: UsbDevice = {
  id: 'stick', platform: 'win32', vendorId: '0781', productId: '5567', serial: 'S1', manufacturer: 'SanDisk', product: 'Cruzer', deviceClass: '00',
  deviceSubclass: '00', deviceProtocol: '00', interfaces: [{ class: '08', subclass: '06', protocol: '50', driver: 'USBSTOR' }], port: 'Port_#0001.Hub_#0001',
  parentId: null, connectType: 'unknown', hash: null, parentHash: null, authorized: true, speed: null,
};

function fakeWatcher() {
  const listeners = new Set<(c: UsbChange) => void>();
  let devices: UsbDevice[] = [];
  let stop: () => void = () => {};
  const w: UsbWatcher & { plug(d: UsbDevice): void; unplug(d: UsbDevice): void } = {
    name: 'fake',
    devices: () => devices,
    onChange(cb) { listeners.add(cb); return () => listeners.delete(cb); },
    run: (s) => new Promise<void>((r) => { stop = r; s.addEventListener('abort', () => r()); }),
    plug(d) { devices = [...devices, d]; for (const l of listeners) l({ attached: [d], detached: [] }); },
    unplug(d) { devices = devices.filter((x) => x.id !== d.id); for (const l of listeners) l({ attached: [], detached: [d] }); },
  };
  void stop;
  return w;
}

function setup(policy: { usb: Record<string, unknown> }, enforcer: Partial<UsbEnforcer> = {}) {
  const events: AgentEvent[] = [];
  let current: Policy = PolicySchema.parse(policy);
  const calls: string[] = [];
  const enf: UsbEnforcer = {
    block: async (d) => { calls.push(`block ${d.id}`); return { held: true, method: 'pnputil /disable-device' }; },
    unblock: async (d) => { calls.push(`unblock ${d.id}`); return { held: true, method: 'pnputil /enable-device' }; },
    readonly: async (d) => { calls.push(`readonly ${d.id}`); return { held: true, method: 'WriteProtect' }; },
    ...enforcer,
  };
  const ca = createCa();
  const w = fakeWatcher();
  const c = new UsbControl({ policy: () => current, emit: async (...e) => { events.push(...e); } }, w, enf, new UsbExceptions(tempDir('tg-ex-'), ca.certPem, 'h1'), pino({ level: 'silent' }));
  const ac = new AbortController();
  const running = c.run(ac.signal);
  const settle = () => new Promise((r) => setTimeout(r, 30));
  return {
    c, w, events, calls, ca, settle,
    setPolicy(p: { usb: Record<string, unknown> }) { current = PolicySchema.parse(p); },
    async stop() { ac.abort(); await running; },
  };
}

describe('UsbControl', () => {
  it('blocks a stick on arrival, reports the enforcement, and forgets it when unplugged', async () => {
    const s = setup({ usb: { mode: 'block' } });
    s.w.plug(stick);
    await s.settle();
    expect(s.calls).toEqual(['block stick']);
    expect(s.events.map((e) => e.type)).toEqual(['usb.attached', 'usb.blocked']);
    expect(s.events[1]!.data).toMatchObject({ action: 'block', held: true, method: 'pnputil /disable-device', reason: 'mode' });
    s.w.unplug(stick);
    await s.settle();
    expect(s.events.at(-1)!.type).toBe('usb.detached');
    await s.stop();
  });

  it('makes a failure to enforce an event of its own, critical, never silent', async () => {
    const s = setup({ usb: { mode: 'block' } }, { block: async () => ({ held: false, method: 'pnputil /disable-device', error: 'pnputil exited 1: Access is denied.' }) });
    s.w.plug(stick);
    await s.settle();
    const b = s.events.find((e) => e.type === 'usb.blocked')!;
    expect(b.severity).toBe('critical');
    expect(b.data).toMatchObject({ held: false, error: 'pnputil exited 1: Access is denied.' });
    await s.stop();
  });

  it('re-judges present devices when the policy relaxes or an exception arrives', async () => {
    const s = setup({ usb: { mode: 'readonly' } });
    s.w.plug(stick);
    await s.settle();
    expect(s.calls).toEqual(['readonly stick']);
    s.setPolicy({ usb: { mode: 'audit' } });
    await s.c.reevaluate();
    expect(s.calls).toEqual(['readonly stick', 'unblock stick']);
    expect(s.events.at(-1)).toMatchObject({ type: 'usb.unblocked', data: { held: true } });
    s.setPolicy({ usb: { mode: 'block' } });
    await s.c.reevaluate();
    expect(s.calls.at(-1)).toBe('block stick');
    const g = signUsbException({ id: 'g1', hostId: 'h1', vendorId: '0781', productId: '5567', serial: 'S1', notBefore: new Date(Date.now() - 1000).toISOString(), notAfter: new Date(Date.now() + 60_000).toISOString(), approvedBy: 'sec', reason: 'r' }, s.ca.keyPem);
    await s.c.addException(g);
    expect(s.calls.at(-1)).toBe('unblock stick');
    await s.c.addException({ ...g, signature: g.signature.replace(/^./, 'A') === g.signature ? g.signature.replace(/^./, 'B') : g.signature.replace(/^./, 'A') });
    expect(s.events.at(-1)).toMatchObject({ type: 'usb.exception_refused' });
    await s.stop();
  });
});
