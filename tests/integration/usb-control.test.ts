/**
 * Removable media control end to end on Linux, against fixture sysfs trees (this machine has no
 * USB): the real agent judges each device, writes `authorized`, reads it back, and the events reach
 * a real server — a stick blocked, a keyboard left alone, a BadUSB composite blocked whole, audit
 * mode only reporting, a device present at start judged too, a signed exception unblocking one
 * stick until it lapses, and a hostile device arriving intact and harmless.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';
import { grantUsbException } from '../../server/usb-exceptions.js';
import type { StoredEvent } from '../../shared/events.js';

const exec = promisify(execFile);
const FX = join(process.cwd(), 'tests/fixtures/linux/usb');
let t: TestServer;
let agent: ChildProcess | null = null;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });
afterEach(async () => {
  if (agent) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent!.once('exit', r));
    agent = null;
  }
});

/** A sysfs with root hubs and every fixture's driver directories, and no devices yet. */
function emptySysfs(): string {
  const sys = join(tempDir('tg-sys-'), 'sys');
  mkdirSync(join(sys, 'bus/usb/devices'), { recursive: true });
  for (const c of readdirSync(FX)) {
    const drivers = join(FX, c, 'sys/bus/usb/drivers');
    try { cpSync(drivers, join(sys, 'bus/usb/drivers'), { recursive: true, verbatimSymlinks: true, force: false, errorOnExist: false }); } catch { /* no drivers */ }
  }
  for (const hub of ['usb1', 'usb2']) cpSync(join(FX, 'sandisk-stick/sys/bus/usb/devices', hub), join(sys, 'bus/usb/devices', hub), { recursive: true, verbatimSymlinks: true });
  return sys;
}

/** Plug in: the kernel shows a device whole, so copy it aside and move it into place in one rename. */
function plug(sys: string, fixture: string, id: string): void {
  const staging = join(sys, 'bus/usb/.staging', id);
  cpSync(join(FX, fixture, 'sys/bus/usb/devices', id), staging, { recursive: true, verbatimSymlinks: true });
  renameSync(staging, join(sys, 'bus/usb/devices', id));
}
const unplug = (sys: string, id: string) => rmSync(join(sys, 'bus/usb/devices', id), { recursive: true, force: true });
const authorized = (sys: string, id: string) => readFileSync(join(sys, 'bus/usb/devices', id, 'authorized'), 'utf8').trim();

async function enrolledAgent(machineId: string): Promise<{ state: string; hostId: string }> {
  const state = tempDir('tg-agent-');
  await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
    { env: { ...process.env, TERMGUARD_MACHINEID: machineId } });
  return { state, hostId: JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string };
}

function run(state: string, sys: string): void {
  agent = spawn(process.execPath, ['dist/agent/cli.js', 'run', '--state', state], {
    stdio: 'ignore',
    env: { ...process.env, TERMGUARD_PATHS_SYSFS: sys, TERMGUARD_LOGLEVEL: 'warn', TERMGUARD_INTERVALS_INVENTORYCHANGES: '3600' },
  });
}

async function eventFor(hostId: string, type: string, pred: (e: StoredEvent) => boolean, ms = 20_000): Promise<StoredEvent> {
  try {
    return await until(`${type}`, async () => (await t.srv.ctx.store.queryEvents({ host: hostId, type, limit: 10_000 })).find(pred), ms);
  } catch (e) {
    const seen = (await t.srv.ctx.store.queryEvents({ host: hostId, limit: 10_000 })).map((x) => `${x.type} ${JSON.stringify(x.data).slice(0, 160)}`);
    throw new Error(`${(e as Error).message}; stored: ${seen.join(' | ')}`);
  }
}

const dev = (e: StoredEvent) => e.data.device as { id: string; vendorId: string; productId: string; serial: string | null; product: string | null };

describe('USB control on Linux (fixture sysfs)', () => {
  it('blocks a stick, leaves a keyboard, blocks BadUSB whole, and follows a signed exception', async () => {
    const { state, hostId } = await enrolledAgent('usb-block');
    const store = t.srv.ctx.store;
    await store.setPolicy('default', { usb: { mode: 'block' } });
    const sys = emptySysfs();
    // Present before the agent starts: judged too.
    plug(sys, 'sandisk-stick', '1-1');
    run(state, sys);
    const blocked = await eventFor(hostId, 'usb.blocked', (e) => dev(e).id === '1-1');
    expect(blocked.data).toMatchObject({ action: 'block', held: true, method: 'authorized=0', reason: 'mode' });
    expect(dev(blocked)).toMatchObject({ vendorId: '0781', productId: '5567' });
    expect(authorized(sys, '1-1')).toBe('0');

    plug(sys, 'keyboard', '1-2');
    const kb = await eventFor(hostId, 'usb.attached', (e) => dev(e).id === '1-2');
    expect(kb.data.verdict).toMatchObject({ action: 'allow', reason: 'hid-only' });
    expect(authorized(sys, '1-2')).toBe('1');

    unplug(sys, '1-1');
    await eventFor(hostId, 'usb.detached', (e) => dev(e).id === '1-1');
    plug(sys, 'badusb-composite', '1-1');
    const bad = await eventFor(hostId, 'usb.blocked', (e) => dev(e).id === '1-1' && (e.data.reason === 'badusb'));
    expect(bad.data.held).toBe(true);
    expect(authorized(sys, '1-1')).toBe('0');

    // A security officer grants the stick an exception: it is unblocked, then blocked again when it lapses.
    unplug(sys, '1-1');
    plug(sys, 'sandisk-stick', '1-1');
    const again = await eventFor(hostId, 'usb.blocked', (e) => dev(e).id === '1-1' && dev(e).vendorId === '0781' && e.id !== blocked.id);
    const serial = dev(again).serial!;
    const caKey = readFileSync(join(t.dir, 'ca.key'), 'utf8');
    const g = await grantUsbException(store, caKey, { hostId, vendorId: '0781', productId: '5567', serial, ttlMs: 4000, approvedBy: 'secadmin', reason: 'copy audit evidence' });
    const unblocked = await eventFor(hostId, 'usb.unblocked', (e) => dev(e).id === '1-1');
    expect(unblocked.data).toMatchObject({ held: true, exceptionId: g.exception.id, reason: 'exception' });
    expect(authorized(sys, '1-1')).toBe('1');
    await until('exception lapsed and the stick blocked again', async () => authorized(sys, '1-1') === '0', 20_000);
  }, 120_000);

  it('in audit mode only reports what it would block', async () => {
    const { state, hostId } = await enrolledAgent('usb-audit');
    await t.srv.ctx.store.setPolicy('default', { usb: { mode: 'audit' } });
    const sys = emptySysfs();
    run(state, sys);
    await eventFor(hostId, 'agent.started', () => true);
    plug(sys, 'sandisk-stick', '1-1');
    const a = await eventFor(hostId, 'usb.attached', (e) => dev(e).id === '1-1');
    expect(a.data.verdict).toMatchObject({ action: 'block', enforced: false, wouldBe: 'block', reason: 'mode' });
    expect(a.severity).toBe('high');
    expect(authorized(sys, '1-1')).toBe('1');
    expect(await t.srv.ctx.store.countEvents({ host: hostId, type: 'usb.blocked' })).toBe(0);
  }, 60_000);

  it('carries a hostile device to the server intact, as data', async () => {
    const { state, hostId } = await enrolledAgent('usb-hostile');
    await t.srv.ctx.store.setPolicy('default', { usb: { mode: 'block' } });
    const sys = emptySysfs();
    run(state, sys);
    await eventFor(hostId, 'agent.started', () => true);
    plug(sys, 'hostile', '1-1');
    const a = await eventFor(hostId, 'usb.attached', (e) => dev(e).id === '1-1');
    const d = dev(a);
    expect(d.vendorId).toBe('dead');
    const raw = readFileSync(join(FX, 'hostile/sys/bus/usb/devices/1-1/product'), 'utf8').replace(/\n$/, '');
    expect(d.product).toBe(raw.slice(0, 4096));
    expect(d.product).toContain('<script>');
    expect(d.serial!.length).toBe(4096);
    // The server still serves, and the event lists as plain JSON.
    const out = await exec(process.execPath, ['dist/server/cli.js', 'events', '--data', t.dir, '--json', '--host', hostId, '--type', 'usb.attached']);
    const listed = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as StoredEvent).find((e) => dev(e).id === '1-1')!;
    expect(dev(listed).product).toBe(d.product);
  }, 60_000);
});
