/**
 * status.json: written atomically, padded to whole blocks so that on a full disk (a real small tmpfs;
 * needs root, skipped with a reason otherwise, failing instead under CI=true) it is rewritten in place.
 */
import { describe, it, expect, afterEach, type TestContext } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readStatusFile, writeStatusFile, type AgentStatusFile } from '../../agent/status.js';

const execFileP = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) {
    try { await fn(); } catch (e) { console.error('cleanup:', (e as Error).message); }
  }
});

function status(patch: Partial<AgentStatusFile> = {}): AgentStatusFile {
  return {
    pid: 4242, version: '0.1.0', updatedAt: new Date().toISOString(), hostId: 'h-1', serverReachable: false,
    lastContact: null, lastError: 'connect ECONNREFUSED 127.0.0.1:8443', policyVersion: 3,
    spool: { events: 10, bytes: 2048, segments: 1, dropped: 0, held: 0, unreported: 0, error: null }, rejected: 0, ...patch,
  };
}

async function tmpfs(ctx: TestContext, size: string): Promise<string> {
  let why: string | undefined;
  if (process.platform !== 'linux') why = `mounting a tmpfs needs Linux (this is ${process.platform})`;
  else if (process.getuid?.() !== 0) why = 'mounting a tmpfs needs root';
  const m = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-full-'));
  if (!why) {
    try {
      await execFileP('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', m]);
      cleanups.push(async () => {
        await execFileP('umount', ['-l', m]).catch((e: Error) => console.error(`umount -l ${m}: ${e.message}`));
        fs.rmSync(m, { recursive: true, force: true });
      });
      return m;
    } catch (e) {
      why = `mount -t tmpfs failed: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`;
    }
  }
  fs.rmSync(m, { recursive: true, force: true });
  if (process.env.CI === 'true') throw new Error(`cannot run under CI: ${why}`);
  console.warn(`skipped: ${why}`);
  return ctx.skip(why);
}

describe('status.json', () => {
  it('is written whole, 0644, padded to 4 KiB blocks, and read back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-status-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const s = status();
    writeStatusFile(dir, s);
    const p = path.join(dir, 'status.json');
    expect(fs.statSync(p).size % 4096).toBe(0);
    expect(fs.statSync(p).mode & 0o777).toBe(0o644);
    expect(readStatusFile(dir)).toEqual(s);
    expect(fs.readdirSync(dir)).toEqual(['status.json']);
  });

  it('is rewritten in place on a full disk, and refused (old one kept) when it would need more blocks', async (ctx) => {
    const m = await tmpfs(ctx, '256k');
    writeStatusFile(m, status());
    const fd = fs.openSync(path.join(m, 'filler'), 'w');
    for (const size of [65536, 4096, 256, 16, 1]) {
      for (;;) {
        try { fs.writeSync(fd, Buffer.alloc(size)); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break; throw e; }
      }
    }
    fs.closeSync(fd);
    const fault = { code: 'ENOSPC', reason: 'disk_full' as const, message: 'append to spool segment …: ENOSPC', since: '2025-01-01T00:00:00.000Z', last: '2025-01-01T00:00:09.000Z', failures: 7 };
    const full = status({ spool: { events: 10, bytes: 2048, segments: 1, dropped: 0, held: 3, unreported: 4, error: fault } });
    writeStatusFile(m, full);
    expect(readStatusFile(m)).toEqual(full);
    expect(fs.statSync(path.join(m, 'status.json')).size).toBe(4096);
    // Bigger than the blocks it holds: refused with the disk's error, the last good one stays.
    const big = status({ lastError: 'x'.repeat(8000) });
    expect(() => writeStatusFile(m, big)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(readStatusFile(m)).toEqual(full);
    expect(fs.readdirSync(m).sort()).toEqual(['filler', 'status.json']);
  });
});
