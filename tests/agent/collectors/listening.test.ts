import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeListeningCollector, SocketOwnerCache } from '../../../agent/collectors/listening/index.js';
import { decodeAddress, parseLsofListen, parseProcNet, parseWin32Listening } from '../../../agent/collectors/listening/parse.js';
import { WIN32_LISTENING_SCRIPT } from '../../../agent/collectors/listening/win32.js';
import { listeningSchema, sectionSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('listening parsers', () => {
  it('decodes little-endian /proc/net addresses', () => {
    expect(decodeAddress('0100007F')).toBe('127.0.0.1');
    expect(decodeAddress('00000000')).toBe('0.0.0.0');
    expect(decodeAddress('00000000000000000000000001000000')).toBe('::1');
    expect(decodeAddress('00000000000000000000000000000000')).toBe('::');
    expect(decodeAddress('B80D0120000000000000000001000000')).toBe('2001:db8::1');
    expect(decodeAddress('0000000000000000FFFF00000100007F')).toBe('::ffff:127.0.0.1');
  });

  it('linux /proc/net/tcp captured here: only LISTEN rows', () => {
    const rows = parseProcNet(fx('linux', 'listening', 'proc-net-tcp.txt'), 'tcp', 'ipv4');
    expect(rows).toHaveLength(3);
    expect(rows).toContainEqual({ protocol: 'tcp', family: 'ipv4', address: '0.0.0.0', port: 2024, inode: 1065 });
    expect(parseProcNet(fx('linux', 'listening', 'proc-net-tcp6.txt'), 'tcp', 'ipv6')).toEqual([]);
  });

  it('linux tcp6 and udp: LISTEN and unconnected only', () => {
    expect(parseProcNet(fx('linux', 'listening', 'proc-net-tcp6-listen.txt'), 'tcp', 'ipv6').map((r) => `${r.address} ${r.port} ${r.inode}`)).toEqual([':: 22 20456', '::1 631 20457', '2001:db8::1 443 21000']);
    expect(parseProcNet(fx('linux', 'listening', 'proc-net-udp-listen.txt'), 'udp', 'ipv4').map((r) => `${r.address}:${r.port}`)).toEqual(['0.0.0.0:68', '127.0.0.53:53']);
  });

  it('win32: Get-NetTCPConnection/Get-NetUDPEndpoint with process names', () => {
    const s = parseWin32Listening(fxJson('win32', 'listening', 'win32-listening.txt'));
    expectMatchesJson('win32', 'listening', 'win32-listening', listeningSchema.parse({ sockets: s }));
    expect(s.find((x) => x.port === 9100)).toMatchObject({ pid: 6612, process: 'hexin' });
  });

  it('darwin: lsof -F field output; connected UDP dropped', () => {
    const s = parseLsofListen(fx('darwin', 'listening', 'lsof-listen.txt'));
    expectMatchesJson('darwin', 'listening', 'lsof-listen', listeningSchema.parse({ sockets: s }));
    expect(s.map((x) => `${x.protocol} ${x.family} ${x.address}:${x.port} ${x.process}`)).toEqual([
      'tcp ipv4 *:22 launchd', 'tcp ipv6 *:22 launchd', 'tcp ipv4 127.0.0.1:49152 rapportd', 'udp ipv4 *:5353 mDNSResponder', 'udp ipv6 *:5353 mDNSResponder',
    ]);
  });

  it('parses a 50,000-row tcp6 table quickly', () => {
    const line = (i: number) => `${String(i).padStart(6)}: 00000000000000000000000001000000:${(1024 + (i % 60000)).toString(16).toUpperCase().padStart(4, '0')} 00000000000000000000000000000000:0000 ${i % 10 ? '01' : '0A'} 00000000:00000000 00:00000000 00000000     0        0 ${100000 + i} 1 0000000000000000 100 0 0 10 0`;
    const text = `  sl  local_address remote_address st\n${Array.from({ length: 50_000 }, (_, i) => line(i)).join('\n')}\n`;
    const t0 = performance.now();
    expect(parseProcNet(text, 'tcp', 'ipv6')).toHaveLength(5_000);
    // A loose bound: this file runs beside apt-get's simulation on two cores; real numbers belong in tests/bench.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe('linux listening over a fixture /proc tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-listen-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const proc = join(dir, 'proc');
  mkdirSync(join(proc, 'net'), { recursive: true });
  writeFileSync(join(proc, 'net/tcp'), fx('linux', 'listening', 'proc-net-tcp.txt'));
  writeFileSync(join(proc, 'net/tcp6'), fx('linux', 'listening', 'proc-net-tcp6-listen.txt'));
  writeFileSync(join(proc, 'net/udp'), fx('linux', 'listening', 'proc-net-udp-listen.txt'));
  const pid = (p: number, comm: string, fds: Record<string, string>) => {
    mkdirSync(join(proc, String(p), 'fd'), { recursive: true });
    writeFileSync(join(proc, String(p), 'comm'), `${comm}\n`);
    for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(proc, String(p), 'fd', fd));
  };
  pid(1, 'init', { 0: '/dev/null' });
  pid(700, 'sshd', { 0: '/dev/null', 3: 'socket:[20456]', 4: 'socket:[99999]' });
  pid(812, 'cupsd', { 5: 'socket:[20457]', 6: 'pipe:[1234]' });
  pid(901, 'dhclient', { 7: 'socket:[18000]' });
  pid(1200, 'node', { 20: 'socket:[1065]' });
  const ctx = { ...ctxWith('linux', tableRunner({})), procfs: proc };

  it('maps socket inodes to pids through fd links, and caches the answer', async () => {
    const cache = new SocketOwnerCache();
    const c = makeListeningCollector(cache);
    const r = sectionSchema(listeningSchema).parse(await c.collect(ctx));
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    const at = (proto: string, port: number, addr: string) => r.data.sockets.find((s) => s.protocol === proto && s.port === port && s.address === addr);
    expect(at('tcp', 22, '::')).toMatchObject({ pid: 700, process: 'sshd', family: 'ipv6' });
    expect(at('tcp', 631, '::1')).toMatchObject({ pid: 812, process: 'cupsd' });
    expect(at('udp', 68, '0.0.0.0')).toMatchObject({ pid: 901, process: 'dhclient' });
    expect(at('tcp', 2024, '0.0.0.0')).toMatchObject({ pid: 1200, process: 'node' });
    expect(at('tcp', 443, '2001:db8::1')).toMatchObject({ pid: null, process: null }); // no owner found
    expect(cache.stats.fullScans).toBe(1);

    // Second poll: owned sockets are verified with one readlink each; the unowned one is remembered, so no walk.
    await c.collect(ctx);
    expect(cache.stats.fullScans).toBe(1);
    expect(cache.stats.verified).toBe(4);
    // A new socket does trigger a walk.
    writeFileSync(join(proc, 'net/udp'), fx('linux', 'listening', 'proc-net-udp-listen.txt').replace(' 18001 ', ' 18001 ') + '  500: 00000000:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18555 2 0000000000000000 0\n');
    await c.collect(ctx);
    expect(cache.stats.fullScans).toBe(2);
  });

  it('a stable set of owned sockets is answered from the cache without walking /proc', async () => {
    const cache = new SocketOwnerCache();
    const owned = new Set([20456, 20457, 18000]);
    await cache.resolve(proc, owned);
    await cache.resolve(proc, owned);
    await cache.resolve(proc, owned);
    expect(cache.stats.fullScans).toBe(1);
    // The socket moved to another process: the stale entry fails verification and one walk finds it.
    unlinkSync(join(proc, '700/fd/3'));
    pid(1300, 'sshd', { 9: 'socket:[20456]' });
    expect((await cache.resolve(proc, owned)).get(20456)).toBe(1300);
    expect(cache.stats.fullScans).toBe(2);
  });

  it('no /proc/net → error with the path', async () => {
    const r = await makeListeningCollector().collect({ ...ctx, procfs: join(dir, 'nope') });
    expect(r.status).toBe('error');
  });

  it('win32 and darwin through the collector', async () => {
    const w = await makeListeningCollector().collect(ctxWith('win32', tableRunner({ [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_LISTENING_SCRIPT}`]: { stdout: fx('win32', 'listening', 'win32-listening.txt') } })));
    expect(w.status).toBe('ok');
    const d = await makeListeningCollector().collect(ctxWith('darwin', tableRunner({ 'lsof -nP -iTCP -sTCP:LISTEN -iUDP -F pcnPtn': { stdout: '', code: 1 } })));
    expect(d).toEqual({ status: 'ok', data: { sockets: [] } });
  });
});

describe.runIf(onLinux)('listening on this machine', () => {
  it('finds a socket we open, with our pid', async () => {
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = sectionSchema(listeningSchema).parse(await makeListeningCollector().collect(hostContext()));
      expect(r.status).toBe('ok');
      if (r.status === 'ok') expect(r.data.sockets.find((s) => s.port === port && s.protocol === 'tcp')).toMatchObject({ pid: process.pid, address: '127.0.0.1' });
    } finally {
      server.close();
    }
  });
});
