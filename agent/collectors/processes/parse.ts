/** Pure parsers for the processes collector. */
import type { ProcessData } from '../../../shared/inventory.js';
import { asArray, int, isoOrNull, psDate, str } from '../util.js';

/** USER_HZ: /proc/[pid]/stat counts start time in clock ticks; 100 on every mainstream Linux ABI. */
export const CLK_TCK = 100;

/** /proc/[pid]/stat: "pid (comm) state ppid … starttime(22) …"; comm may hold spaces and parentheses. */
export function parseProcStat(text: string): { pid: number; comm: string; ppid: number; startTicks: number } | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).trim().split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3]
  const ppid = Number(rest[1]);
  const start = Number(rest[19]);
  return { pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), ppid, startTicks: start };
}

/** Real uid from /proc/[pid]/status "Uid:\treal\teffective\tsaved\tfs". */
export function parseStatusUid(text: string): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** uid → name from /etc/passwd. */
export function passwdNames(passwd: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && !out.has(Number(f[2]))) out.set(Number(f[2]), f[0]);
  }
  return out;
}

/** /proc/[pid]/cmdline: NUL-separated arguments, capped. */
export function parseCmdline(buf: string, cap = 1024): string | null {
  const s = buf.replace(/\0+$/, '').split('\0').join(' ').trim();
  return s ? s.slice(0, cap) : null;
}

/** Windows: { Procs: Win32_Process (ProcessId, ParentProcessId, Name, ExecutablePath, CreationDate), Owners: Get-Process -IncludeUserName (Id, UserName) }. */
export function parseWin32Processes(json: unknown): Omit<ProcessData, 'sha256'>[] {
  const o = asArray(json)[0] ?? {};
  const owners = new Map(asArray(o.Owners).map((p) => [int(p.Id), str(p.UserName)] as const));
  return asArray(o.Procs).flatMap((p) => {
    const pid = int(p.ProcessId);
    if (pid === null) return [];
    return [{ pid, ppid: int(p.ParentProcessId), name: str(p.Name) ?? String(pid), path: str(p.ExecutablePath), cmdline: str(p.CommandLine)?.slice(0, 1024) ?? null, user: owners.get(pid) ?? null, startTime: psDate(p.CreationDate) }];
  }).sort((a, b) => a.pid - b.pid);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `ps -axo pid=,ppid=,user=,lstart=,comm=`: lstart is "Mon Nov 24 09:12:33 2026" in local time; comm is the executable path. */
export function parsePsLstart(text: string, offsetMin = 0): Omit<ProcessData, 'sha256'>[] {
  const out: Omit<ProcessData, 'sha256'>[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+\w{3}\s+(\w{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})\s+(.+)$/.exec(line);
    if (!m) continue;
    const mo = MONTHS.indexOf(m[4]!);
    const start = mo < 0 ? null : isoOrNull(new Date(Date.UTC(+m[9]!, mo, +m[5]!, +m[6]!, +m[7]!, +m[8]!) - offsetMin * 60_000));
    const comm = m[10]!.trim();
    out.push({ pid: +m[1]!, ppid: +m[2]!, name: comm.split('/').pop() || comm, path: comm.startsWith('/') ? comm : null, cmdline: null, user: m[3]!, startTime: start });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
