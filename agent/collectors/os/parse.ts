/** Pure parsers for the os collector: text in, fields out. */
import { asArray, isoOrNull, psDate, str, type Json } from '../util.js';
import type { OsData } from '../../../shared/inventory.js';

/** /etc/os-release: KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!.trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[m[1]!] = v;
  }
  return out;
}

/** `btime` line of /proc/stat: boot time in seconds since the epoch. */
export function parseBtime(stat: string): string | null {
  const m = /^btime\s+(\d+)/m.exec(stat);
  return m ? isoOrNull(new Date(Number(m[1]) * 1000)) : null;
}

/** `Get-CimInstance Win32_OperatingSystem | Select … | ConvertTo-Json`. */
export function parseWin32OperatingSystem(json: unknown): OsData {
  const o: Json = asArray(json)[0] ?? {};
  return {
    platform: 'win32',
    name: str(o.Caption) ?? 'Windows',
    version: str(o.Version),
    build: str(o.BuildNumber),
    kernel: str(o.Version),
    arch: str(o.OSArchitecture),
    hostname: str(o.CSName),
    bootTime: psDate(o.LastBootUpTime),
  };
}

/** `sw_vers`: "ProductName:\tmacOS" lines. */
export function parseSwVers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** `sysctl -n kern.osrelease kern.boottime hw.machine kern.hostname`: one value per line, in that order. */
export function parseDarwinSysctl(text: string): { kernel: string | null; bootTime: string | null; arch: string | null; hostname: string | null } {
  const lines = text.split('\n').map((l) => l.trim());
  const boot = /sec\s*=\s*(\d+)/.exec(lines[1] ?? '');
  return {
    kernel: lines[0] || null,
    bootTime: boot ? isoOrNull(new Date(Number(boot[1]) * 1000)) : null,
    arch: lines[2] || null,
    hostname: lines[3] || null,
  };
}
