/**
 * glibc malloc tuning for a server that holds thousands of idle TLS connections (server/native/malloc).
 *
 * Node gives every TLS connection a 64 KiB read buffer (its NodeBIO, sized by libuv's read hint)
 * and 16 KiB write buffers. Carved out of the brk heap, such a buffer is resident in full as soon
 * as that memory was used before (the handshakes of a fleet coming up leave plenty), although an
 * idle agent's connection touches a page or two of it. With the mmap threshold at 16 KiB each is a
 * mapping of its own, and only the pages it touches are resident. A periodic malloc_trim(0) gives
 * back the free pages a burst (a reconnect storm) leaves inside the heap, as Orthanc's housekeeper
 * and the JDK's TrimNativeHeap do. Without glibc, or without the addon (npm --ignore-scripts),
 * nothing changes and the server says so once.
 */
import type { Logger } from 'pino';
import { nativeAddon } from './native-addon.js';

export interface MallocStats { heapBytes: number; inUseBytes: number; freeBytes: number; mmappedBytes: number; mmappedChunks: number }

interface MallocAddon {
  setMmapThreshold(bytes: number): boolean;
  trim(): boolean;
  /** glibc's mallinfo2(), summed over arenas; null before glibc 2.33. */
  stats(): MallocStats | null;
}

export const MMAP_THRESHOLD = 16 * 1024;
export const TRIM_EVERY_MS = 60_000;

/** The addon, or null where it is not built or not glibc's to tune. */
export function mallocAddon(): MallocAddon | null {
  return nativeAddon<MallocAddon>('malloc');
}

export interface MallocTuning {
  /** The mmap threshold glibc took, or null when nothing was tuned. */
  mmapThreshold: number | null;
  /** Trims so far, and the time they took. */
  trims: number;
  trimSeconds: number;
  /** The allocator's own figures, where glibc gives them. */
  stats(): MallocStats | null;
  stop(): void;
}

/** Set the mmap threshold now and trim every `trimEveryMs` (unref'd timer). */
export function tuneMalloc(log: Pick<Logger, 'info' | 'warn'>, trimEveryMs = TRIM_EVERY_MS): MallocTuning {
  const a = mallocAddon();
  const t: MallocTuning = { mmapThreshold: null, trims: 0, trimSeconds: 0, stats: () => a?.stats() ?? null, stop: () => undefined };
  if (!a) {
    if (process.platform === 'linux') log.warn('server/native/malloc is not built (npm ci runs node-gyp); memory per idle agent connection is higher without it');
    return t;
  }
  if (!a.setMmapThreshold(MMAP_THRESHOLD)) {
    log.info('malloc tuning skipped: not glibc');
    return t;
  }
  t.mmapThreshold = MMAP_THRESHOLD;
  const timer = setInterval(() => {
    const t0 = performance.now();
    a.trim();
    t.trims++;
    t.trimSeconds += (performance.now() - t0) / 1000;
  }, trimEveryMs);
  timer.unref();
  t.stop = () => clearInterval(timer);
  return t;
}
