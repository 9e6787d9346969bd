/** File helpers for state that must survive a crash or a hostile tree (Tailscale `atomicfile`, orbit `readFileCapped`). */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, readFileSync, statSync, mkdirSync, lstatSync, constants, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write a file atomically: temp file in the same folder, fsync, rename, fsync the folder.
 * `durable: false` keeps the rename's atomicity but skips both fsyncs, for files that are only
 * informational and rewritten every few seconds (the agent's status.json).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  if (durable) fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Read at most `max` bytes of a regular file, refusing symlinks and anything larger. */
export function readFileCapped(path: string, max = 1 << 20): string {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw new Error(`refusing to follow symlink ${path}`);
  if (!st.isFile()) throw new Error(`not a regular file: ${path}`);
  if (st.size > max) throw new Error(`file too large: ${path} (${st.size} > ${max} bytes)`);
  return readFileSync(path, 'utf8');
}

/** mkdir -p with a mode for the last component (0700 for state and data folders). */
export function ensureDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
}

export function exists(path: string): boolean {
  try { statSync(path); return true; } catch { return false; }
}
