import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutableHashCache, makeProcessesCollector } from '../../../agent/collectors/processes/index.js';
import { parseCmdline, parseProcStat, parsePsLstart, parseStatusUid, parseWin32Processes } from '../../../agent/collectors/processes/parse.js';
import { WIN32_PROCESSES_SCRIPT } from '../../../agent/collectors/processes/win32.js';
import { processesSchema, sectionSchema } from '../../../shared/inventory.js';
import { ctxWith, expectMatchesJson, fx, fxJson, hostContext, onLinux, tableRunner } from './helpers.js';

describe('processes parsers', () => {
  it('linux: /proc/[pid]/stat captured here, and a comm with spaces and parentheses', () => {
    expect(parseProcStat(fx('linux', 'processes', 'proc-pid-stat.txt'))).toMatchObject({ pid: 28023, comm: 'cat', ppid: 27961, startTicks: 212070 });
    expect(parseProcStat(fx('linux', 'processes', 'proc-pid-stat-parens.txt'))).toMatchObject({ pid: 28023, comm: 'my (odd) proc', ppid: 27961, startTicks: 212070 });
    expect(parseStatusUid(fx('linux', 'processes', 'proc-pid-status.txt'))).toBe(0);
    expect(parseCmdline('/usr/bin/node\0server.js\0--port\u00008080\0')).toBe('/usr/bin/node server.js --port 8080');
  });

  it('win32: Win32_Process + owners', () => {
    const p = parseWin32Processes(fxJson('win32', 'processes', 'win32-processes.txt'));
    expectMatchesJson('win32', 'processes', 'win32-processes', p);
    expect(p.find((x) => x.pid === 6612)).toMatchObject({ name: 'hexin.exe', user: 'TRADE-WS-017\\trader01', ppid: 5120 });
  });

  it('darwin: ps -axo with lstart (local time) and paths with spaces', () => {
    const p = parsePsLstart(fx('darwin', 'processes', 'ps-axo.txt'), 480);
    expectMatchesJson('darwin', 'processes', 'ps-axo', p);
    expect(p.find((x) => x.pid === 2210)).toMatchObject({ name: 'Google Chrome', path: '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', user: 'trader', startTime: '2026-11-25T01:03:12.000Z' });
  });
});

describe('linux processes over a fixture /proc tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-procs-'));
  const outside = mkdtempSync(join(tmpdir(), 'tg-outside-'));
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); rmSync(outside, { recursive: true, force: true }); });
  const fsRoot = join(dir, 'fs');
  const proc = join(fsRoot, 'proc');
  mkdirSync(join(fsRoot, 'usr/bin'), { recursive: true });
  mkdirSync(join(fsRoot, 'etc'), { recursive: true });
  writeFileSync(join(fsRoot, 'usr/bin/trader'), 'trading terminal binary v1');
  writeFileSync(join(fsRoot, 'usr/bin/big'), Buffer.alloc(4096, 1));
  writeFileSync(join(outside, 'host-secret'), 'not part of the tree');
  symlinkSync(join(outside, 'host-secret'), join(fsRoot, 'usr/bin/escape'));
  writeFileSync(join(fsRoot, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
  mkdirSync(proc, { recursive: true });
  writeFileSync(join(proc, 'stat'), 'cpu  1 2 3\nbtime 1795593600\n');
  const pid = (p: number, comm: string, uid: number, exe: string | null, startTicks: number) => {
    const d = join(proc, String(p));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'stat'), `${p} (${comm}) S 1 ${p} ${p} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${startTicks} 1000 100 18446744073709551615\n`);
    writeFileSync(join(d, 'status'), `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    writeFileSync(join(d, 'cmdline'), `${comm}\0--flag\0`);
    if (exe) symlinkSync(exe, join(d, 'exe'));
  };
  pid(1, 'init', 0, null, 1);
  pid(100, 'trader', 1000, '/usr/bin/trader', 12345);
  pid(101, 'trader', 1000, '/usr/bin/trader', 12400);
  pid(102, 'big', 0, '/usr/bin/big', 500);
  pid(103, 'escape', 0, '/usr/bin/escape', 600);
  pid(104, 'gone', 0, '/usr/bin/gone (deleted)', 700);
  const ctx = { ...ctxWith('linux', tableRunner({})), root: fsRoot, procfs: proc };

  it('hashes each executable once; a second run re-hashes nothing unchanged', async () => {
    const cache = new ExecutableHashCache(1024);
    const c = makeProcessesCollector(cache);
    const r1 = sectionSchema(processesSchema).parse(await c.collect(ctx));
    expect(r1.status).toBe('ok');
    if (r1.status !== 'ok') return;
    const by = Object.fromEntries(r1.data.processes.map((p) => [p.pid, p]));
    const sha = createHash('sha256').update('trading terminal binary v1').digest('hex');
    expect(by[100]).toMatchObject({ name: 'trader', user: 'alice', path: '/usr/bin/trader', sha256: sha, cmdline: 'trader --flag', startTime: '2026-11-25T08:02:03.450Z' });
    expect(by[101]!.sha256).toBe(sha);
    expect(by[102]!.sha256).toBeNull(); // over the 1024-byte cap
    expect(by[103]!.sha256).toBeNull(); // symlink out of the scanned tree
    expect(by[104]!.sha256).toBeNull(); // deleted binary
    expect(by[1]).toMatchObject({ path: null, sha256: null });
    expect(r1.data.hashed).toBe(1);
    expect(cache.stats.computed).toBe(1);

    const r2 = await c.collect(ctx);
    expect(r2).toMatchObject({ status: 'ok', data: { hashed: 0, hashCacheHits: 2 } });
    expect(cache.stats.computed).toBe(1);

    // Replaced binary (new size/mtime) is hashed again.
    writeFileSync(join(fsRoot, 'usr/bin/trader'), 'trading terminal binary v2 (patched)');
    const r3 = await c.collect(ctx);
    expect(r3).toMatchObject({ status: 'ok', data: { hashed: 1 } });
    expect(cache.stats.computed).toBe(2);
  });

  it('win32 through the collector: no host files behind fixture paths, so no hashes', async () => {
    const run = tableRunner({ [`powershell.exe -NoProfile -NonInteractive -Command ${WIN32_PROCESSES_SCRIPT}`]: { stdout: fx('win32', 'processes', 'win32-processes.txt') } });
    const r = sectionSchema(processesSchema).parse(await makeProcessesCollector().collect(ctxWith('win32', run)));
    expect(r).toMatchObject({ status: 'ok', data: { hashed: 0 } });
  });

  it('darwin: ps missing → error', async () => {
    expect(await makeProcessesCollector().collect(ctxWith('darwin', tableRunner({})))).toEqual({ status: 'error', reason: 'processes: ps not found' });
  });
});

describe.runIf(onLinux)('processes on this machine', () => {
  it('lists us with our executable hashed; the second run hits the cache', async () => {
    const c = makeProcessesCollector(new ExecutableHashCache());
    const r1 = sectionSchema(processesSchema).parse(await c.collect(hostContext()));
    expect(r1.status).toBe('ok');
    if (r1.status !== 'ok') return;
    const me = r1.data.processes.find((p) => p.pid === process.pid);
    expect(me).toMatchObject({ path: process.execPath });
    expect(me!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const r2 = await c.collect(hostContext());
    expect(r2.status).toBe('ok');
    if (r2.status === 'ok') expect(r2.data.hashCacheHits).toBeGreaterThan(0);
  }, 30_000);
});
