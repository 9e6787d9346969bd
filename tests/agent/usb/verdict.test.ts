/**
 * The verdict for every fixture device under every mode, the `authorized` file after enforcement,
 * and usb.rules / allow-list / exception precedence (contract: DESIGN.md policy section).
 */
import { describe, it, expect } from 'vitest';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { linuxUsb } from '../../../agent/collectors/usb/linux.js';
import { compileUsbPolicy, decideUsb } from '../../../agent/policy/usb.js';
import { setAuthorized } from '../../../agent/enforcers/usb/linux.js';
import { PolicySchema } from '../../../shared/policy.js';
import type { UsbDevice } from '../../../shared/usb.js';
import { tempDir } from '../../helpers/server.js';

const FX = join(process.cwd(), 'tests/fixtures/linux/usb');

async function devices(fixture: string): Promise<UsbDevice[]> {
  return linuxUsb({ platform: 'linux', root: '/', procfs: '/proc', sysfs: join(FX, fixture, 'sys'), run: async () => ({ stdout: '', stderr: '', code: 0 }), now: new Date() });
}

const ctx = { now: new Date(), random: () => 0.5, lastApplied: () => null, lastEvaluated: () => null, allowedMatches: () => false };
const decide = (d: UsbDevice, usb: Record<string, unknown>, exceptions = []) =>
  decideUsb(d, compileUsbPolicy(PolicySchema.parse({ usb }).usb), { exceptions, ctx });

// fixture → device id → expected [audit, readonly, block] as "action/enforced"
const MATRIX: Record<string, Record<string, [string, string, string]>> = {
  'sandisk-stick': { '1-1': ['block/no', 'readonly/yes', 'block/yes'] },
  keyboard: { '1-2': ['allow/yes', 'allow/yes', 'allow/yes'] },
  mouse: { '1-3': ['allow/yes', 'allow/yes', 'allow/yes'] },
  'hub-with-stick': { '1-1': ['allow/yes', 'allow/yes', 'allow/yes'], '1-1.2': ['block/no', 'readonly/yes', 'block/yes'] },
  'badusb-composite': { '1-1': ['block/no', 'block/yes', 'block/yes'] },
  'phone-mtp': { '1-1': ['block/no', 'readonly/yes', 'block/yes'] },
  'rndis-tether': { '1-1': ['allow/yes', 'allow/yes', 'allow/yes'] },
  'cdc-ether': { '1-1': ['allow/yes', 'allow/yes', 'allow/yes'] },
  '4g-dongle-storage': { '1-2': ['block/no', 'readonly/yes', 'block/yes'] },
};

describe('USB verdict on the fixture devices', () => {
  for (const [fixture, byId] of Object.entries(MATRIX)) {
    it(`${fixture}: audit / readonly / block`, async () => {
      const ds = await devices(fixture);
      for (const [id, expected] of Object.entries(byId)) {
        const d = ds.find((x) => x.id === id);
        expect(d, `${fixture} has ${id}`).toBeDefined();
        const got = (['audit', 'readonly', 'block'] as const).map((mode) => {
          const v = decide(d!, { mode });
          return `${v.action}/${v.enforce ? 'yes' : 'no'}`;
        });
        expect(got, `${fixture} ${id}`).toEqual(expected);
      }
      // Root hubs always pass.
      for (const hub of ds.filter((x) => x.id.startsWith('usb'))) expect(decide(hub, { mode: 'block' }).reason).toBe('hub');
    });
  }

  it('writes authorized=0 for a block and reads it back; the file says so afterwards', async () => {
    for (const fixture of ['sandisk-stick', 'badusb-composite', '4g-dongle-storage']) {
      const sys = join(tempDir('tg-usb-'), 'sys');
      cpSync(join(FX, fixture, 'sys'), sys, { recursive: true, verbatimSymlinks: true });
      const d = (await devices(fixture)).find((x) => !x.id.startsWith('usb') && decide(x, { mode: 'block' }).action === 'block')!;
      const r = await setAuthorized(sys, d.id, 0);
      expect(r).toMatchObject({ held: true, before: 1, after: 0 });
      expect(readFileSync(join(sys, 'bus/usb/devices', d.id, 'authorized'), 'utf8').trim()).toBe('0');
    }
  });

  it('lets the allow list through and applies usb.rules first, first match wins', async () => {
    const [stick] = (await devices('sandisk-stick')).filter((x) => x.id === '1-1');
    expect(decide(stick!, { mode: 'block', allow: [{ vendorId: '0781', productId: '5567' }] })).toMatchObject({ action: 'allow', reason: 'allow-list' });
    expect(decide(stick!, { mode: 'block', allow: [{ vendorId: '0781', serial: 'other' }] }).action).toBe('block');
    const rules = ['allow id 0781:5567 with-interface 08:06:50', 'block with-interface one-of { 08:*:* 06:*:* }'];
    expect(decide(stick!, { mode: 'block', rules })).toMatchObject({ action: 'allow', reason: 'rule', rule: { index: 0 } });
    expect(decide(stick!, { mode: 'audit', rules: rules.slice(1) })).toMatchObject({ action: 'block', enforce: true, reason: 'rule', rule: { index: 0 } });
    const [kb] = (await devices('keyboard')).filter((x) => x.id === '1-2');
    // An explicit rule may block even a keyboard; without one, keyboards are never blocked.
    expect(decide(kb!, { mode: 'block', rules: ['block with-interface one-of { 03:*:* }'] }).action).toBe('block');
    expect(decide(kb!, { mode: 'block', rules: ['block with-interface 08:*:*'] })).toMatchObject({ action: 'allow', reason: 'hid-only' });
  });

  it('honours an exception for the exact device only', async () => {
    const [stick] = (await devices('sandisk-stick')).filter((x) => x.id === '1-1');
    const ex = (serial: string) => [{ kind: 'termguard.usb_exception' as const, id: 'e1', hostId: 'h', vendorId: '0781', productId: '5567', serial, notBefore: '', notAfter: '', approvedBy: 'a', reason: 'r' }];
    expect(decide(stick!, { mode: 'block' }, ex(stick!.serial!) as never)).toMatchObject({ action: 'allow', reason: 'exception', exceptionId: 'e1' });
    expect(decide(stick!, { mode: 'block' }, ex('someone-else') as never).action).toBe('block');
  });
});
