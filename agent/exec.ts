/**
 * The one way the agent runs commands: no shell, a timeout, capped output, and a typed result
 * instead of a throw, so a missing or hanging tool becomes an `error` row, never a crash.
 * Collectors and checks receive a Runner, so tests feed them recorded outputs.
 */
import { spawn, execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** WHATWG labels for the OEM code pages of the markets we serve; others are ASCII-compatible. */
const OEM_LABELS: Record<string, string> = { '936': 'gbk', '54936': 'gb18030', '950': 'big5', '932': 'shift_jis', '949': 'euc-kr', '866': 'ibm866', '65001': 'utf-8' };

export function oemLabel(codePage: string | null): string {
  return (codePage && OEM_LABELS[codePage]) ?? 'windows-1252';
}

let oem: TextDecoder | undefined;
function oemDecoder(): TextDecoder {
  if (!oem) {
    let cp: string | null = null;
    try {
      const out = execFileSync('reg.exe', ['query', 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage', '/v', 'OEMCP'], { encoding: 'latin1', timeout: 5000, windowsHide: true });
      cp = /OEMCP\s+REG_SZ\s+(\d+)/.exec(out)?.[1] ?? null;
    } catch { /* fall back to an ASCII-compatible decoding */ }
    oem = new TextDecoder(oemLabel(cp));
  }
  return oem;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed (timeout) or never started. */
  code: number | null;
  /** Set when the command could not run to completion: ENOENT, EACCES, timeout, output cap. */
  error?: string;
}

export interface RunOptions {
  timeoutMs?: number;
  maxBytes?: number;
  env?: Record<string, string>;
  input?: string;
  /** `oem`: decode output in the Windows console code page (e.g. GBK on zh-CN); UTF-8 otherwise. */
  encoding?: 'oem';
}

/**
 * A program on `path`, then in `extra` folders (a service's PATH often lacks the sbin ones), or null.
 */
export function which(cmd: string, path = process.env.PATH ?? '', extra: readonly string[] = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']): string | null {
  for (const dir of [...path.split(delimiter), ...extra]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch { /* next */ }
  }
  return null;
}

export type Runner = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

export const runCommand: Runner = (cmd, args, opts = {}) => new Promise((resolve) => {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
  const outBufs: Buffer[] = [];
  const errBufs: Buffer[] = [];
  let size = 0;
  let error: string | undefined;
  let child;
  try {
    child = spawn(cmd, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', ...opts.env },
      windowsHide: true,
    });
  } catch (e) {
    resolve({ stdout: '', stderr: '', code: null, error: `cannot run ${cmd}: ${(e as Error).message}` });
    return;
  }
  const timer = setTimeout(() => { error = `${cmd} timed out after ${timeoutMs} ms`; child.kill('SIGKILL'); }, timeoutMs);
  const take = (buf: Buffer, into: 'out' | 'err') => {
    size += buf.length;
    if (size > maxBytes) {
      error ??= `${cmd} printed more than ${maxBytes} bytes`;
      child.kill('SIGKILL');
      return;
    }
    (into === 'out' ? outBufs : errBufs).push(buf);
  };
  child.stdout!.on('data', (b: Buffer) => take(b, 'out'));
  child.stderr!.on('data', (b: Buffer) => take(b, 'err'));
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  child.on('error', (e: NodeJS.ErrnoException) => {
    error = e.code === 'ENOENT' ? `${cmd} not found` : e.code === 'EACCES' ? `${cmd}: permission denied` : `${cmd}: ${e.message}`;
  });
  child.on('close', (code) => {
    clearTimeout(timer);
    const decode = (b: Buffer[]) => (opts.encoding === 'oem' && process.platform === 'win32' ? oemDecoder().decode(Buffer.concat(b)) : Buffer.concat(b).toString('utf8'));
    resolve({ stdout: decode(outBufs), stderr: decode(errBufs), code: error ? null : code, ...(error ? { error } : {}) });
  });
});

/**
 * Remember the output of slow, read-only commands for a while (apt's simulated upgrade takes
 * seconds): the checks and the inventory ask the same question minutes apart.
 */
export function memoRunner(base: Runner, ttlMs: number, cacheable: (cmd: string, args: string[]) => boolean): Runner {
  const memo = new Map<string, { at: number; result: Promise<RunResult> }>();
  return (cmd, args, opts) => {
    if (!cacheable(cmd, args) || opts?.input !== undefined) return base(cmd, args, opts);
    const key = JSON.stringify([cmd, args]);
    const hit = memo.get(key);
    if (hit && Date.now() - hit.at < ttlMs) return hit.result;
    const result = base(cmd, args, opts);
    memo.set(key, { at: Date.now(), result });
    void result.then((r) => { if (r.error || r.code !== 0) memo.delete(key); });
    return result;
  };
}

/** Package-manager simulations and update queries: slow, read-only, and unchanged for minutes. */
export const slowQueries = (cmd: string, args: string[]): boolean =>
  ((cmd === 'apt-get' || cmd.endsWith('/apt-get')) && args.includes('-s'))
  || ((cmd === 'dnf' || cmd === 'yum') && args.includes('--cacheonly'));

export const agentRunner: Runner = memoRunner(runCommand, 10 * 60_000, slowQueries);
