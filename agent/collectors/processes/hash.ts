/**
 * SHA-256 of executables, cached by (dev, inode, mtime, size) so an unchanged binary is hashed once
 * per agent lifetime. Files are opened without following a final symlink, must resolve inside the
 * scanned root (a fixture tree never leaks into the host), and are skipped above the size cap.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { under } from '../util.js';

export const DEFAULT_HASH_CAP = 256 * 1024 * 1024;

export class ExecutableHashCache {
  private entries = new Map<string, string>();
  /** computed: files read and hashed; hits: answered from the cache; skipped: deleted, foreign, too large, unreadable. */
  readonly stats = { computed: 0, hits: 0, skipped: 0 };

  constructor(readonly maxBytes = DEFAULT_HASH_CAP, readonly maxEntries = 20_000) {}

  /** Hash `path` as seen from inside `root` ("/" on the host); null when it cannot or must not be hashed. */
  async hash(root: string, path: string): Promise<{ sha256: string | null; cached: boolean }> {
    const skip = { sha256: null, cached: false };
    if (!path || path.endsWith(' (deleted)')) { this.stats.skipped++; return skip; }
    const onHost = root === '/' || root === '';
    const full = onHost ? path : under(root, path);
    let real: string;
    try {
      real = await realpath(full);
      if (!onHost) {
        const r = await realpath(root);
        if (real !== r && !real.startsWith(r.endsWith(sep) ? r : r + sep)) { this.stats.skipped++; return skip; }
      }
    } catch {
      this.stats.skipped++;
      return skip;
    }
    let fh;
    try {
      fh = await open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch {
      this.stats.skipped++;
      return skip;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile() || st.size > BigInt(this.maxBytes)) { this.stats.skipped++; return skip; }
      const key = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`;
      const hit = this.entries.get(key);
      if (hit) { this.stats.hits++; return { sha256: hit, cached: true }; }
      const sha256 = await hashHandle(fh);
      this.stats.computed++;
      const after = await fh.stat({ bigint: true });
      // Written to while we read: return the hash but do not cache it.
      if (after.mtimeNs === st.mtimeNs && after.size === st.size) {
        if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(key, sha256);
      }
      return { sha256, cached: false };
    } catch {
      this.stats.skipped++;
      return skip;
    } finally {
      await fh.close();
    }
  }
}

/** One 1 MiB buffer for all hashing, taken in turn: a fresh 64 KiB chunk per read of a 100 MB binary left ~20 MB of RSS behind. */
const scratch = Buffer.allocUnsafe(1024 * 1024);
let turn: Promise<unknown> = Promise.resolve();

function hashHandle(fh: import('node:fs/promises').FileHandle): Promise<string> {
  const run = turn.then(async () => {
    const h = createHash('sha256');
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(scratch, 0, scratch.length, pos);
      if (bytesRead === 0) break;
      h.update(scratch.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return h.digest('hex');
  });
  turn = run.catch(() => undefined);
  return run;
}
