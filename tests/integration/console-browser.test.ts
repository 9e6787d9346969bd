/**
 * The web console in a real browser against a real server and an enrolled agent identity: first
 * login with the one-time password, violation triage, policy publish picked up by the host, a USB
 * exception, the monthly report link, the language switch, and hostile agent strings rendered inert.
 * The cases run in order and share one browser page.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { enrollTestAgent, until, type TestAgent, type TestServer, startTestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, screenshot } from '../helpers/browser.js';
import { newEvent } from '../../shared/events.js';

const RUN = chromiumAvailable('console browser tests');

const XSS = {
  procName: '<img src=x onerror=window.__xss=1>',
  procExe: '/tmp/</script><script>window.__xss=2</script>',
  usbProduct: 'javascript:window.__xss=3',
  filePath: '/media/usb/<img src=x onerror=window.__xss=4>.txt',
};
const NEW_PASSWORD = 'Correct-Horse-Battery-9';
const CJK = /[\u3400-\u9fff]/;

function usbEvent(serial: string) {
  return newEvent('usb.attached', 'high', ['art31'], {
    device: {
      id: `1-${serial}`, vendorId: '0781', productId: '5567', serial, manufacturer: 'SanDisk', product: XSS.usbProduct, port: '1-1',
      deviceClass: '00', interfaces: ['08:06:50'], drivers: ['usb-storage'], connectType: 'hotplug', hash: null,
    },
    verdict: { action: 'block', enforced: false, wouldBe: 'block', reason: 'mass storage not allowed', kinds: { storage: true, hid: false, network: false, hub: false } },
  });
}

describe.skipIf(!RUN)('console in a browser', () => {
  let t: TestServer;
  let agent: TestAgent;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const cspViolations: string[] = [];
  const ids = { triage: '', egress: '', usb1: '', usb2: '' };
  let approvedSerial = '';

  /** Go to a console route and wait until its view has rendered (the loading line is gone). */
  async function open(hash: string): Promise<void> {
    // Mark the current view, so a hash change is not mistaken for the new view having rendered.
    await page.evaluate(() => document.querySelector('#main')?.setAttribute('data-stale', '1')).catch(() => undefined);
    await page.goto(`${base}/${hash}`);
    await page.waitForFunction(() => !!document.querySelector('#main:not([data-stale])') && !document.querySelector('#main > .loading'));
  }

  const apiGet = async (path: string) => {
    const r = await context.request.get(`${base}${path}`);
    expect(r.status(), `${path}: ${await r.text()}`).toBe(200);
    return r.json();
  };

  beforeAll(async () => {
    t = await startTestServer();
    base = t.srv.consoleUrl;
    agent = await enrollTestAgent(t);
    const events = [
      newEvent('egress.violation', 'high', ['art29', 'art31'], {
        direction: 'outbound', proto: 'tcp', remoteAddress: '203.0.113.10', remotePort: 443,
        process: { pid: 1, name: XSS.procName, exe: XSS.procExe, user: 'root' },
      }),
      usbEvent('SER-0001'),
      usbEvent('SER-0002'),
      newEvent('media.file_written', 'low', ['art31'], { path: XSS.filePath, event: 'add', kind: 'file', size: 4, sha256: null, mountPoint: '/media/usb', device: '/dev/sdb1' }),
      newEvent('host.antimalware_disabled', 'high', ['art18', 'art30'], { product: 'ClamAV' }),
      newEvent('host.inventory', 'low', ['art10', 'art18', 'art26', 'art30'], {
        collectedAt: new Date().toISOString(),
        os: { status: 'ok', data: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0-18-amd64', arch: 'x86_64', hostname: 'test-host', bootTime: null } },
        network: { status: 'ok', data: { interfaces: [{ name: 'eth0', mac: '52:54:00:12:34:56', up: true, type: 'ethernet', driver: 'virtio_net', addresses: [{ family: 'ipv4', address: '10.20.0.5', prefix: 16 }] }], gateways: [], dns: [] } },
        listening: { status: 'ok', data: { sockets: [{ protocol: 'tcp', family: 'ipv4', address: '0.0.0.0', port: 22, pid: 400, process: 'sshd' }] } },
        antimalware: { status: 'unsupported', reason: 'not collected in this test' },
      }),
    ];
    const r = await agent.post('/v1/events', { events });
    expect(r.status).toBe(200);
    expect(r.json.rejected).toEqual([]);
    const list = await until('violations derived', async () => {
      const v = await t.srv.ctx.store.listViolations({ limit: 50 });
      return v.items.length >= 4 ? v.items : null;
    });
    ids.triage = list.find((v) => v.type === 'host.antimalware_disabled')!.id;
    ids.egress = list.find((v) => v.type === 'egress.violation')!.id;
    const usb = list.filter((v) => v.type === 'usb.attached');
    expect(usb).toHaveLength(2);
    [ids.usb1, ids.usb2] = usb.map((v) => v.id) as [string, string];

    browser = await launchChromium();
    context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    agent?.agent.destroy();
    await t?.stop();
  });

  it('1. first login with the one-time password forces a password change, then lands on the overview', async () => {
    await page.goto(`${base}/`);
    await page.waitForURL(/#\/login$/);
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', t.adminPassword);
    await page.click('form button[type=submit]');
    await page.waitForURL(/#\/password$/);
    await expect.poll(() => page.textContent('h1')).toBe('修改密码');
    // The nav is hidden until the password is changed, and other routes lead back here.
    expect(await page.locator('nav.nav a').count()).toBe(0);
    await page.fill('input[name=current]', t.adminPassword);
    await page.fill('input[name=new]', NEW_PASSWORD);
    await page.fill('input[name=repeat]', `${NEW_PASSWORD}x`);
    await page.click('form button[type=submit]');
    await expect.poll(() => page.textContent('.msg.error')).toContain('不一致');
    await page.fill('input[name=repeat]', NEW_PASSWORD);
    await page.click('form button[type=submit]');
    await page.waitForURL(/#\/overview$/);
    await page.waitForSelector('svg.chart rect.bar', { state: 'attached' });
    expect(await page.textContent('h1')).toBe('概览');
    expect(await page.locator('svg.chart rect.bar').count()).toBe(30);
    expect(await page.locator('nav.nav a[data-route=audit]').count()).toBe(1);
    const session = await apiGet('/api/session');
    expect(session).toMatchObject({ user: 'admin', mustChangePassword: false });
    await screenshot(page, '1-overview');
  });

  it('2. triages a violation open → acknowledged → resolved with a note', async () => {
    await open(`#/violations?type=host.antimalware_disabled`);
    const row = page.locator(`tr[data-id="${ids.triage}"]`);
    await expect.poll(() => row.locator('.badge.state-open').count()).toBe(1);
    await row.locator('button[data-action=ack]').click();
    await page.locator(`tr[data-id="${ids.triage}"] .badge.state-acknowledged`).waitFor();
    expect((await apiGet(`/api/violations/${ids.triage}`)).state).toBe('acknowledged');

    await page.locator(`tr[data-id="${ids.triage}"] button[data-action=resolve]`).click();
    const form = page.locator('form[data-form=resolve]');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.textContent('.msg.error')).toContain('处理说明');
    await form.locator('textarea[name=note]').fill('ClamAV re-enabled by the desk; ticket 42');
    await form.locator('button[type=submit]').click();
    await page.locator(`tr[data-id="${ids.triage}"] .badge.state-resolved`).waitFor();
    const v = await apiGet(`/api/violations/${ids.triage}`);
    expect(v.state).toBe('resolved');
    expect(v.resolvedBy).toBe('admin');
    expect(v.notes.map((n: { text: string }) => n.text)).toContain('ClamAV re-enabled by the desk; ticket 42');
    await open(`#/violations/${ids.triage}`);
    expect(await page.textContent('ul.notes')).toContain('ticket 42');
    await screenshot(page, '2-violation-resolved');
  });

  it('3. publishes a policy after an invalid attempt, and the host picks it up', async () => {
    await open('#/policies?group=default');
    const editor = page.locator('textarea[name=policy]');
    expect(JSON.parse(await editor.inputValue())).toHaveProperty('usb');
    await editor.fill('{"usb": {"mode": "forbid"}}');
    await page.click('button[data-action=validate]');
    await expect.poll(() => page.textContent('.msg.error')).toMatch(/策略无效：usb\.mode/);
    await page.click('button[data-action=publish]');
    await expect.poll(() => page.textContent('.msg.error')).toContain('usb.mode');
    expect((await apiGet('/api/policies?group=default')).current.version).toBe(0);

    await editor.fill(JSON.stringify({ usb: { mode: 'block' }, egress: { allow: ['10.0.0.0/8', '198.18.0.0/15:443'] } }, null, 2));
    await page.click('button[data-action=validate]');
    await expect.poll(() => page.textContent('.msg.ok')).toBe('策略有效。');
    await page.click('button[data-action=publish]');
    await expect.poll(() => page.textContent('.msg.ok')).toMatch(/已为分组 default 发布版本 \d+/);
    const version = (await apiGet('/api/policies?group=default')).current.version as number;
    expect(version).toBeGreaterThan(0);
    expect(await page.textContent('.policy-side')).toContain(`v${version}`);

    const fetched = await agent.get('/v1/policy');
    expect(fetched.status).toBe(200);
    expect(fetched.json.version).toBe(version);
    expect(fetched.json.policy.usb.mode).toBe('block');
    const hb = await agent.post('/v1/events', { events: [newEvent('agent.heartbeat', 'low', [], { policyVersion: version })] });
    expect(hb.json.rejected).toEqual([]);

    await open(`#/hosts?policyVersion=${version}`);
    const cell = page.locator(`table.hosts td.policy [data-version="${version}"]`);
    await expect.poll(() => cell.count()).toBe(1);
    expect(await cell.getAttribute('class')).toBe('ok');
    expect(await page.textContent('table.hosts')).toContain('test-host');
    await screenshot(page, '3-hosts-policy-applied');

    await open('#/policies?group=default');
    await page.click('button[data-action=diff]');
    await expect.poll(() => page.textContent('.diff-out')).toContain('egress.allow');
    await screenshot(page, '3-policy-editor');
  });

  it('4. approves a USB exception from the USB view and queues the command', async () => {
    await open('#/usb');
    const row = page.locator(`tr[data-violation="${ids.usb1}"]`);
    await row.locator('button[data-action=approve]').click();
    const form = page.locator('form[data-form=usb-exception]');
    expect(await form.locator('input[name=hostId]').inputValue()).toBe(agent.hostId);
    expect(await form.locator('input[name=vendorId]').inputValue()).toBe('0781');
    expect(await form.locator('input[name=productId]').inputValue()).toBe('5567');
    const serial = await form.locator('input[name=serial]').inputValue();
    expect(['SER-0001', 'SER-0002']).toContain(serial);
    approvedSerial = serial;
    await form.locator('input[name=reason]').fill('ticket 77: audit export for the regulator');
    await form.locator('input[name=ttl]').fill('4h');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.textContent('.msg.ok')).toMatch(/例外 .+ 已下发到终端/);
    const cmds = await t.srv.ctx.store.commandsAfter(agent.hostId, 0);
    const exc = cmds.find((c) => c.type === 'usb.exception');
    expect(exc, JSON.stringify(cmds.map((c) => c.type))).toBeTruthy();
    expect(JSON.stringify(exc!.payload)).toContain(serial);
    expect(JSON.stringify(exc!.payload)).toContain('ticket 77');
    expect((await apiGet(`/api/violations/${ids.usb1}`)).state).toBe('resolved');
    // The request list no longer offers the approved device.
    await expect.poll(() => page.locator(`tr[data-violation="${ids.usb1}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-violation="${ids.usb2}"]`).count()).toBe(1);
    await screenshot(page, '4-usb-exception');
  });

  it('5. links the monthly report for the chosen month', async () => {
    await open('#/reports');
    await page.fill('input[name=month]', '2026-03');
    const html = page.locator('a[data-format=html]');
    expect(await html.getAttribute('href')).toBe('/api/reports/monthly?month=2026-03&format=html');
    expect(await page.locator('a[data-format=csv]').getAttribute('href')).toBe('/api/reports/monthly?month=2026-03&format=csv');
    expect(await page.locator('a[data-format=json]').getAttribute('href')).toBe('/api/reports/monthly?month=2026-03&format=json');
    const r = await context.request.get(`${base}/api/reports/monthly?month=2026-03&format=html`);
    console.log(`GET /api/reports/monthly?month=2026-03&format=html → ${r.status()} ${r.headers()['content-type'] ?? ''}`);
    expect([200, 404]).toContain(r.status());
    if (r.status() === 200) {
      const popup = page.waitForEvent('popup');
      await html.click();
      const p2 = await popup;
      await p2.waitForLoadState();
      await screenshot(p2, '5-report-html');
      await p2.close();
    }
    await screenshot(page, '5-reports');
  });

  it('6. switches zh-CN ↔ English and every label on the page follows', async () => {
    // Every key used in the console's code exists in both dictionaries.
    const dir = join(process.cwd(), 'server/web/static');
    const { DICTS } = await import(join(dir, 'i18n.js')) as { DICTS: Record<string, Record<string, string>> };
    const used = new Set<string>();
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.js'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) used.add(m[1]!);
    }
    for (const [code, dict] of Object.entries(DICTS)) expect([...used].filter((k) => !(k in dict)), code).toEqual([]);
    expect(Object.keys(DICTS.en!).sort()).toEqual(Object.keys(DICTS['zh-CN']!).sort());

    /** Labels the console writes itself (not agent data): nav, headings, table heads, buttons, field labels, options, badges. */
    const labels = () => page.$$eval('nav.nav a, h1, h2, h3, th, button, .field > .label, #main option, .badge, .pager .range, legend', (els) =>
      els.map((e) => (e.textContent ?? '').trim()).filter(Boolean));
    const views = ['#/violations', `#/hosts/${encodeURIComponent(agent.hostId)}`, '#/settings'];
    for (const v of views) {
      await open(v);
      const zh = await labels();
      // Host names, ids and codes are data; every console label has Chinese text in zh-CN.
      const untranslated = zh.filter((x) => !CJK.test(x) && !/^(termguard|[‹›\d\s–:/.,-]+|SHA-256|test-host)$/.test(x) && !/^v\d+$/.test(x));
      expect(untranslated, `${v} zh-CN`).toEqual([]);
    }
    await page.selectOption('select[name=lang]', 'en');
    await expect.poll(() => page.textContent('h1')).toBe('Settings');
    expect(await page.evaluate(() => localStorage.getItem('termguard.lang'))).toBe('en');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    for (const v of views) {
      await open(v);
      const text = await page.evaluate(() => {
        const clone = document.body.cloneNode(true) as HTMLElement;
        clone.querySelector('select[name=lang]')?.remove();
        return clone.textContent ?? '';
      });
      expect(text.match(new RegExp(CJK.source, 'g')) ?? [], `${v} English`).toEqual([]);
      await screenshot(page, `6-en-${v.split('/')[1]}`);
    }
    expect(await page.textContent('nav.nav')).toContain('Violations');
    await page.selectOption('select[name=lang]', 'zh-CN');
    await expect.poll(() => page.textContent('nav.nav')).toContain('违规');
    expect(await page.evaluate(() => localStorage.getItem('termguard.lang'))).toBe('zh-CN');
  });

  it('7. renders hostile agent strings as inert text on every view that shows them', async () => {
    // The console's code has no HTML-parsing sink and no inline style at all.
    const dir = join(process.cwd(), 'server/web/static');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.js'))) {
      const src = readFileSync(join(dir, f), 'utf8');
      expect(src.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|\.style\b|setAttribute\(\s*['"](style|href|src)/g) ?? [], f).toEqual([]);
    }
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).not.toMatch(/<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=/i);
    const checkInert = async (where: string, expected: string[]) => {
      await page.waitForTimeout(150); // an injected <img onerror> would fire by now
      expect(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), where).toBeUndefined();
      const text = await page.evaluate(() => document.body.textContent ?? '');
      for (const s of expected) expect(text, `${where} shows ${s}`).toContain(s);
      expect(await page.locator('#main img, #main script').count(), where).toBe(0);
      const hrefs = await page.$$eval('a', (as) => as.map((a) => a.getAttribute('href') ?? ''));
      for (const h of hrefs) expect(h, where).toMatch(/^(#\/|\/api\/)/);
    };
    await open(`#/hosts/${encodeURIComponent(agent.hostId)}`);
    await checkInert('host timeline', [XSS.procName, XSS.procExe, XSS.usbProduct, XSS.filePath, '203.0.113.10:443', 'SanDisk']);
    expect(await page.textContent('table.timeline')).toContain(XSS.filePath);
    await screenshot(page, '7-host-detail');

    await open('#/violations');
    await checkInert('violations list', [XSS.procName, XSS.usbProduct]);
    await screenshot(page, '7-violations');

    await open(`#/violations/${ids.egress}`);
    await checkInert('egress violation detail', [XSS.procName, XSS.procExe, '203.0.113.10']);
    expect(await page.textContent('table.event-data')).toContain('process.exe');
    await screenshot(page, '7-violation-detail');

    await open(`#/violations/${ids.usb2}`);
    const otherSerial = approvedSerial === 'SER-0001' ? 'SER-0002' : 'SER-0001';
    await checkInert('usb violation detail', [XSS.usbProduct, otherSerial]);

    await open('#/usb');
    await checkInert('usb requests', [XSS.usbProduct, otherSerial]);
    await page.locator(`tr[data-violation="${ids.usb2}"] button[data-action=approve]`).click();
    expect(await page.textContent('form[data-form=usb-exception]')).toContain(XSS.usbProduct);
    await checkInert('usb approve form', [XSS.usbProduct]);
    await screenshot(page, '7-usb');

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
  it('8. every view renders, and a restricted role sees only what it may use', async () => {
    await open('#/tokens');
    await page.fill('input[name=uses]', '3');
    await page.click('form button[type=submit]');
    await page.locator('.token-out code.secret').first().waitFor();
    const token = await page.locator('.token-out code.secret').first().textContent();
    expect(await page.textContent('.token-out')).toContain(`--token ${token}`);
    expect(await page.textContent('.token-out')).toContain(t.caHash);

    await open('#/users');
    await page.fill('input[name=name]', 'li.analyst');
    await page.selectOption('select[name=role]', 'analyst');
    await page.locator('form:has(input[name=name]) button[type=submit]').click();
    await page.locator('.once code.secret').waitFor();
    const analystPassword = (await page.locator('.once code.secret').textContent())!;
    expect(await page.textContent('table.data')).toContain('li.analyst');

    await open('#/audit');
    await page.click('button[data-action=verify]');
    await expect.poll(() => page.textContent('.msg.ok')).toMatch(/哈希链完整/);
    expect(await page.textContent('table.data')).toContain('policy.publish');
    for (const route of ['#/overview', '#/drills', '#/settings', '#/policies', '#/hosts']) {
      await open(route);
      expect(await page.locator('#main .msg.error').count(), route).toBe(0);
    }

    // The analyst's first login: forced password change, then a nav without admin views.
    const ctx2 = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'en-US', timezoneId: 'UTC' });
    const p2 = await ctx2.newPage();
    p2.setDefaultTimeout(15_000);
    await p2.goto(`${base}/`);
    await p2.fill('input[name=username]', 'li.analyst');
    await p2.fill('input[name=password]', 'wrong-password-123');
    await p2.click('form button[type=submit]');
    await expect.poll(() => p2.textContent('.msg.error')).toContain('用户名或密码错误');
    await p2.fill('input[name=password]', analystPassword);
    await p2.click('form button[type=submit]');
    await p2.waitForURL(/#\/password$/);
    await p2.fill('input[name=current]', analystPassword);
    await p2.fill('input[name=new]', 'Analyst-Password-77');
    await p2.fill('input[name=repeat]', 'Analyst-Password-77');
    await p2.click('form button[type=submit]');
    await p2.waitForURL(/#\/overview$/);
    await p2.locator('nav.nav a').first().waitFor();
    const routes = await p2.$$eval('nav.nav a', (as) => as.map((a) => a.getAttribute('data-route')));
    expect(routes).toEqual(['overview', 'hosts', 'violations', 'policies', 'usb', 'drills', 'settings']);
    await p2.goto(`${base}/#/policies`);
    await p2.locator('textarea[name=policy]').waitFor();
    expect(await p2.locator('button[data-action=publish]').count()).toBe(0);
    await p2.goto(`${base}/#/usb`);
    await p2.locator('table.usb').waitFor();
    expect(await p2.locator('button[data-action=approve]').count()).toBe(0);
    await p2.goto(`${base}/#/audit`);
    await expect.poll(() => p2.textContent('#main')).toContain('无权');
    await screenshot(p2, '8-analyst');
    // Logging out ends the session: the API answers 401 and the console shows the login form.
    await p2.click('button.logout');
    await p2.waitForURL(/#\/login$/);
    expect((await ctx2.request.get(`${base}/api/session`)).status()).toBe(401);
    await ctx2.close();

    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });
});
