/**
 * server/native/malloc: built by `npm ci` (node-gyp), loaded by server/malloc.ts. The effect is checked in
 * fresh child processes, untuned and tuned: 64 KiB buffers (the size of Node's per-connection TLS
 * read buffer) come out of the heap by default and are mapped on their own once tuned.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mallocAddon, MMAP_THRESHOLD, tuneMalloc } from '../../server/malloc.js';

const linux = process.platform === 'linux';
const addon = mallocAddon();
if (linux && !addon) {
  if (process.env.CI === 'true') throw new Error('server/native/malloc is not built: npm ci must build it (node-gyp)');
  process.stdout.write('malloc.test: skipped, server/native/malloc is not built (run npm ci)\n');
}

const ADDON = fileURLToPath(new URL('../../server/native/malloc/build/Release/termguard_malloc.node', import.meta.url));

/** In a fresh node: optionally tune, allocate 64 × 64 KiB, say how many bytes went to mapped chunks. */
function mappedGrowth(tune: boolean): number {
  const script = `
    const m = require(${JSON.stringify(ADDON)});
    ${tune ? `if (!m.setMmapThreshold(${MMAP_THRESHOLD})) throw new Error('not tuned');` : ''}
    const before = m.stats().mmappedBytes;
    const keep = [];
    for (let i = 0; i < 64; i++) keep.push(Buffer.allocUnsafeSlow(64 * 1024));
    process.stdout.write(String(m.stats().mmappedBytes - before));`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

describe.skipIf(!linux || !addon)('server/native/malloc', () => {
  it('refuses a threshold out of range with a RangeError; trims; reports the allocator\'s figures', () => {
    expect(() => addon!.setMmapThreshold(12)).toThrow(RangeError);
    expect(() => addon!.setMmapThreshold(2 ** 40)).toThrow(RangeError);
    expect(() => addon!.setMmapThreshold('x' as unknown as number)).toThrow(RangeError);
    expect(typeof addon!.trim()).toBe('boolean');
    const st = addon!.stats()!;
    expect(st.inUseBytes).toBeGreaterThan(0);
    expect(st.heapBytes).toBeGreaterThanOrEqual(st.inUseBytes);
  });

  it('64 KiB buffers come from the heap untuned and are mapped on their own once tuned', () => {
    expect(mappedGrowth(false)).toBeLessThan(1024 * 1024);
    expect(mappedGrowth(true)).toBeGreaterThanOrEqual(56 * 64 * 1024); // nearly all of the 4 MiB
  });

  it('tuneMalloc sets the threshold and trims on its interval', async () => {
    const t = tuneMalloc({ info: () => undefined, warn: () => undefined }, 50);
    try {
      expect(t.mmapThreshold).toBe(MMAP_THRESHOLD);
      await new Promise((r) => setTimeout(r, 200));
      expect(t.trims).toBeGreaterThanOrEqual(2);
      expect(t.trimSeconds).toBeGreaterThan(0);
    } finally {
      t.stop();
    }
  });
});
