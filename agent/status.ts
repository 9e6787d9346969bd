/**
 * status.json: what the running agent says about itself every few seconds; `termguard-agent status`
 * reads it. Informational, so written without fsync, and padded to whole 4 KiB blocks: on a full disk,
 * where the atomic write (a new temp file) fails, it is rewritten in place, in blocks it already holds.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { exists, writeFileAtomic } from '../shared/fs.js';
import { statePaths } from './state.js';
import type { SpoolDepth, SpoolFault } from './transport/spool.js';

export interface AgentStatusFile {
  pid: number;
  version: string;
  updatedAt: string;
  hostId: string;
  serverReachable: boolean | null;
  lastContact: string | null;
  lastError: string | null;
  policyVersion: number;
  /** Depth, held and unreported events, and the write failure that still lasts (null when none). */
  spool: SpoolDepth & { error: SpoolFault | null };
  rejected: number;
}

const BLOCK = 4096;

export function writeStatusFile(stateDir: string, s: AgentStatusFile): void {
  const path = statePaths(stateDir).status;
  const text = padToBlock(JSON.stringify(s, null, 2));
  try {
    writeFileAtomic(path, text, 0o644, { durable: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
    if (!rewriteInPlace(path, text)) throw e;
  }
}

/**
 * Only within the blocks the file holds (false if it would need more). Not atomic: a reader may
 * catch it half-written, and readStatusFile then says null for a moment.
 */
function rewriteInPlace(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    // Never shorter than it is: a shrink would give blocks back that the next rewrite may not get.
    const size = fstatSync(fd).size;
    let buf = Buffer.from(text);
    if (buf.length > size) return false;
    if (buf.length < size) buf = Buffer.concat([buf.subarray(0, buf.length - 1), Buffer.alloc(size - buf.length, ' '), Buffer.from('\n')]);
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off, off);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** JSON, then spaces (still valid JSON) and a newline up to a whole number of blocks. */
function padToBlock(json: string): string {
  const bytes = Buffer.byteLength(json) + 1;
  return json + ' '.repeat(Math.ceil(bytes / BLOCK) * BLOCK - bytes) + '\n';
}

/** What `status` shows when no agent is running: read the folder. */
export function readStatusFile(stateDir: string): AgentStatusFile | null {
  const p = statePaths(stateDir).status;
  if (!exists(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as AgentStatusFile;
  } catch {
    return null;
  }
}
