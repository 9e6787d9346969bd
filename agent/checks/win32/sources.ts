/**
 * Where the win32 checks read from: each source is one command run through ctx.run (never a
 * shell string), memoised per CheckContext so that the ten checks reading the security policy
 * spawn secedit once. A source answers either a parsed value or the `error` outcome to return.
 *
 * Nothing here reaches the network (art29): Windows Update history is read from the local
 * DataStore through QueryHistory; IUpdateSearcher.Search, which contacts the update service, is
 * never called.
 */
import type { RunResult } from '../../exec.js';
import type { CheckContext, CheckOutcome } from '../types.js';
import {
  parseAuditpolCsv, parseInf, parseNetshFirewall, parsePsJsonList, parseRegQuery, parseServices, parseW32tmStatus,
  type AuditRow, type FirewallProfile, type Inf, type RegValue, type ServiceRow, type W32tmStatus,
} from './parse.js';

export interface Command {
  /** Console tools print in the OEM code page (936 on zh-CN Windows), not UTF-8. */
  encoding?: 'oem';
  cmd: string;
  args: string[];
}

export type Got<T> = { ok: true; value: T; from: string } | { ok: false; outcome: CheckOutcome };

const POWERSHELL = 'powershell.exe';
/** Stop on the first error (so a failing cmdlet exits non-zero) and print UTF-8 whatever the console code page. */
const PS_PRELUDE = "$ErrorActionPreference='Stop';[Console]::OutputEncoding=[Text.Encoding]::UTF8;";

export function ps(script: string): Command {
  return { cmd: POWERSHELL, args: ['-NoProfile', '-NonInteractive', '-Command', PS_PRELUDE + script] };
}

/** The fixture key / log form of a command: argv joined by spaces. */
export function commandLine(c: Command): string {
  return [c.cmd, ...c.args].join(' ');
}

// secedit writes its export to a file, so one PowerShell call exports to a fresh temp file,
// prints it (the export is UTF-16LE) and deletes it; stdout is the INF text itself.
export const SECEDIT = ps(
  "$p=Join-Path $env:TEMP ('tg-secpol-'+[guid]::NewGuid().ToString('N')+'.inf');"
  + 'try{$o=& secedit.exe /export /cfg $p /areas SECURITYPOLICY /quiet;'
  + 'if($LASTEXITCODE -ne 0){[Console]::Error.WriteLine(($o|Out-String));exit $LASTEXITCODE};'
  + 'Get-Content -LiteralPath $p -Raw -Encoding Unicode}'
  + 'finally{Remove-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue}',
);
export const AUDITPOL: Command = { cmd: 'auditpol.exe', args: ['/get', '/category:*', '/r'], encoding: 'oem' };
export const NETSH_FIREWALL: Command = { cmd: 'netsh.exe', args: ['advfirewall', 'show', 'allprofiles', 'state'], encoding: 'oem' };
export const W32TM_STATUS: Command = { cmd: 'w32tm.exe', args: ['/query', '/status'], encoding: 'oem' };
export const LOCAL_USERS = ps("Get-LocalUser | Select-Object Name,Enabled,PasswordRequired,@{n='SID';e={$_.SID.Value}} | ConvertTo-Json");
// Administrators is localised (管理员 on zh-CN); its SID is not.
export const ADMIN_MEMBERS = ps("Get-LocalGroupMember -SID S-1-5-32-544 | Select-Object Name,ObjectClass,PrincipalSource,@{n='SID';e={$_.SID.Value}} | ConvertTo-Json");
export const SERVICES = ps('Get-Service | Select-Object Name,Status,StartType | ConvertTo-Json');
export const LISTENERS = ps('Get-NetTCPConnection -State Listen -ErrorAction SilentlyContinue | Select-Object LocalAddress,LocalPort,OwningProcess | ConvertTo-Json');
export const SMB_SERVER = ps('Get-SmbServerConfiguration | Select-Object EnableSMB1Protocol,EnableSMB2Protocol,RequireSecuritySignature,EnableSecuritySignature,EncryptData | ConvertTo-Json');
export const DEFENDER = ps('Get-MpComputerStatus | Select-Object AMServiceEnabled,AntivirusEnabled,RealTimeProtectionEnabled,AntivirusSignatureLastUpdated,AntivirusSignatureVersion,AMRunningMode | ConvertTo-Json');
export const SECURITY_CENTER_AV = ps('Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | Select-Object displayName,productState,timestamp | ConvertTo-Json');
export const HOTFIXES = ps('Get-HotFix | Select-Object HotFixID,Description,InstalledOn | ConvertTo-Json');
export const UPDATE_HISTORY = ps(
  '$s=New-Object -ComObject Microsoft.Update.Session;$h=$s.CreateUpdateSearcher();$n=$h.GetTotalHistoryCount();'
  + 'if($n -gt 0){$h.QueryHistory(0,[Math]::Min($n,200)) | Select-Object Date,Title,Operation,ResultCode | ConvertTo-Json}',
);
export const BITLOCKER = ps('Get-BitLockerVolume -MountPoint $env:SystemDrive | Select-Object MountPoint,VolumeStatus,ProtectionStatus,EncryptionPercentage,EncryptionMethod | ConvertTo-Json');

export function regQuery(key: string): Command {
  return { cmd: 'reg.exe', args: ['query', key] };
}

export const REG = {
  policiesSystem: 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System',
  policiesExplorer: 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer',
  lsa: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa',
  terminalServer: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server',
  rdpTcp: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp',
  terminalServicesPolicy: 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services',
  remoteAssistance: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Remote Assistance',
  securityLog: 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Security',
  securityLogPolicy: 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\EventLog\\Security',
  usbstor: 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\USBSTOR',
  winrmPolicy: 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service',
  scriptBlockLogging: 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\PowerShell\\ScriptBlockLogging',
} as const;

// ---------------------------------------------------------------------------------------------

const cache = new WeakMap<CheckContext, Map<string, Promise<RunResult>>>();

/** Runs a command once per context; later checks reuse the result. */
export function runOnce(ctx: CheckContext, c: Command): Promise<RunResult> {
  let m = cache.get(ctx);
  if (!m) { m = new Map(); cache.set(ctx, m); }
  const key = commandLine(c);
  let p = m.get(key);
  // Under runChecks' 30 s per-check limit, so a hung tool reports its own reason.
  if (!p) { p = ctx.run(c.cmd, c.args, { timeoutMs: 25_000, ...(c.encoding ? { encoding: c.encoding } : {}) }); m.set(key, p); }
  return p;
}

function firstLine(s: string): string {
  return s.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/** The outcome for a command that did not run to completion, or null when it did (exit 0). */
export function failedRun(r: RunResult, label: string): CheckOutcome | null {
  if (r.error) return { status: 'error', evidence: { source: label }, reason: r.error };
  if (r.code !== 0) {
    const msg = firstLine(r.stderr) || firstLine(r.stdout) || 'no output';
    return { status: 'error', evidence: { source: label, exitCode: r.code }, reason: `${label} failed: ${msg}` };
  }
  return null;
}

async function parsed<T>(ctx: CheckContext, c: Command, label: string, parse: (s: string) => T): Promise<Got<T>> {
  const r = await runOnce(ctx, c);
  const bad = failedRun(r, label);
  if (bad) return { ok: false, outcome: bad };
  try {
    return { ok: true, value: parse(r.stdout), from: label };
  } catch (e) {
    return { ok: false, outcome: { status: 'error', evidence: { source: label }, reason: `cannot parse ${label} output: ${(e as Error).message}` } };
  }
}

export function secpol(ctx: CheckContext): Promise<Got<Inf>> {
  return parsed(ctx, SECEDIT, 'secedit /export /areas SECURITYPOLICY', (s) => {
    const inf = parseInf(s);
    if (!inf.has('system access')) throw new Error('no [System Access] section');
    return inf;
  });
}

export function auditpol(ctx: CheckContext): Promise<Got<AuditRow[]>> {
  return parsed(ctx, AUDITPOL, 'auditpol /get /category:* /r', (s) => {
    const rows = parseAuditpolCsv(s);
    if (rows.length === 0) throw new Error('no subcategory rows');
    return rows;
  });
}

export function firewall(ctx: CheckContext): Promise<Got<FirewallProfile[]>> {
  return parsed(ctx, NETSH_FIREWALL, 'netsh advfirewall show allprofiles state', (s) => {
    const p = parseNetshFirewall(s);
    if (p.length === 0) throw new Error('no profile State lines');
    return p;
  });
}

export function services(ctx: CheckContext): Promise<Got<ServiceRow[]>> {
  return parsed(ctx, SERVICES, 'Get-Service', (s) => {
    const rows = parseServices(s);
    if (rows.length === 0) throw new Error('no services listed');
    return rows;
  });
}

export function psList(ctx: CheckContext, c: Command, label: string): Promise<Got<Record<string, unknown>[]>> {
  return parsed(ctx, c, label, parsePsJsonList);
}

/** A registry key's values; an absent key reads as no values (reg.exe exits 1 with "unable to find"). */
export async function regKey(ctx: CheckContext, key: string): Promise<Got<Map<string, RegValue>>> {
  const label = `reg query ${key}`;
  const r = await runOnce(ctx, regQuery(key));
  if (!r.error && r.code === 1 && !/denied|拒绝/i.test(r.stderr) && r.stdout.trim() === '') return { ok: true, value: new Map(), from: label };
  const bad = failedRun(r, label);
  if (bad) return { ok: false, outcome: bad };
  return { ok: true, value: parseRegQuery(r.stdout), from: label };
}

/** A numeric registry value, or undefined when the value (or its key) is absent. */
export function regNum(values: Map<string, RegValue>, name: string): number | undefined {
  return values.get(name.toLowerCase())?.num;
}

export interface W32tmResult {
  /** The Windows Time service is stopped: w32tm reports 0x80070426. */
  serviceStopped: boolean;
  status?: W32tmStatus;
}

export async function w32tm(ctx: CheckContext): Promise<Got<W32tmResult>> {
  const label = 'w32tm /query /status';
  const r = await runOnce(ctx, W32TM_STATUS);
  if (!r.error && /0x80070426/.test(r.stdout + r.stderr)) return { ok: true, value: { serviceStopped: true }, from: label };
  const bad = failedRun(r, label);
  if (bad) return { ok: false, outcome: bad };
  const status = parseW32tmStatus(r.stdout);
  if (status.source === undefined) return { ok: false, outcome: { status: 'error', evidence: { source: label }, reason: `cannot parse ${label} output: no Source line` } };
  return { ok: true, value: { serviceStopped: false, status }, from: label };
}
