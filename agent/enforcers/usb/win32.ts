/**
 * Holding a USB device on Windows (art31). Every step runs through the injected runner and is
 * recorded; `held` is decided by re-reading the device afterwards, never by a tool's exit code alone.
 *
 * - block: the Device Installation Restrictions policy (`DenyDeviceIDs` + `DenyDeviceIDsRetroactive`
 *   with the device's hardware id `USB\VID_xxxx&PID_xxxx` in the `DenyDeviceIDs` list) so the device
 *   stays out after a re-plug or reboot, then `pnputil /disable-device` for the device present now
 *   (Windows 10 2004, build 19041, and later; `Disable-PnpDevice` before that), then a read of its
 *   ConfigManagerErrorCode: 22 (disabled) or absent means held. The deny list matches the hardware
 *   id, so it holds every device of that vendor/product, not only this serial.
 * - readonly: `StorageDevicePolicies\WriteProtect=1`. Windows applies it to volumes as they are
 *   mounted and to every USB disk on the host — it is not per device — so the device is re-mounted by
 *   disabling and re-enabling it (a storage+HID composite loses its HID function for that moment).
 * - unblock / allowWrite reverse block / readonly.
 */
import type { UsbDevice } from '../../../shared/usb.js';
import type { Runner, RunResult } from '../../exec.js';
import { firstLine } from '../../collectors/util.js';

export interface EnforceResult {
  /** The requested state is in effect, as read back after the commands (for unblock: usable again). */
  held: boolean;
  /** Every command run, in order, as `cmd arg arg`. */
  commands: string[];
  /** What failed, if anything (a step can fail while the device is still held). */
  error?: string;
}

export const RESTRICTIONS = 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DeviceInstall\\Restrictions';
export const DENY_LIST = `${RESTRICTIONS}\\DenyDeviceIDs`;
export const STORAGE_POLICIES = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\StorageDevicePolicies';
const CURRENT_VERSION = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion';
/** Windows 10 version 2004: first pnputil with /disable-device and /enable-device. */
export const PNPUTIL_DEVICE_BUILD = 19041;
const CM_PROB_DISABLED = 22;

/** The hardware id the deny list matches: `USB\VID_0781&PID_5567`. */
export function hardwareId(d: Pick<UsbDevice, 'vendorId' | 'productId'>): string {
  return `USB\\VID_${d.vendorId.toUpperCase()}&PID_${d.productId.toUpperCase()}`;
}

/** A PowerShell single-quoted literal (PowerShell also takes the typographic single quotes as quotes). */
export function psQuote(s: string): string {
  return `'${s.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

/** A WQL string literal. */
function wqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function statusScript(instanceId: string): string {
  return "$ErrorActionPreference='Stop';[Console]::OutputEncoding=[Text.Encoding]::UTF8;"
    + `Get-CimInstance -ClassName Win32_PnPEntity -Filter ${psQuote(`PNPDeviceID=${wqlString(instanceId)}`)} | Select-Object PNPDeviceID,Status,ConfigManagerErrorCode | ConvertTo-Json`;
}

/** `reg query` values: `    name    REG_SZ    data`. */
export function parseRegQuery(out: string): { name: string; type: string; data: string }[] {
  const rows: { name: string; type: string; data: string }[] = [];
  for (const line of out.split(/\r?\n/)) {
    const m = /^\s{2,}(.+?)\s{2,}(REG_[A-Z_]+)\s{2,}(.*?)\s*$/.exec(line) ?? /^\s{2,}(.+?)\s{2,}(REG_[A-Z_]+)\s*$/.exec(line);
    if (m) rows.push({ name: m[1]!, type: m[2]!, data: m[3] ?? '' });
  }
  return rows;
}

class Steps {
  readonly commands: string[] = [];
  readonly errors: string[] = [];
  constructor(private readonly run: Runner) {}

  async exec(cmd: string, args: string[], okCodes = [0], oem = true): Promise<RunResult & { ok: boolean }> {
    this.commands.push([cmd, ...args].join(' '));
    const r = await this.run(cmd, args, { timeoutMs: 60_000, ...(oem ? { encoding: 'oem' as const } : {}) });
    const ok = !r.error && r.code !== null && okCodes.includes(r.code);
    return { ...r, ok };
  }

  /** Run and record a failure with the tool's own last words (pnputil's first line is its banner). */
  async must(what: string, cmd: string, args: string[], okCodes = [0], oem = true): Promise<boolean> {
    const r = await this.exec(cmd, args, okCodes, oem);
    if (!r.ok) this.errors.push(`${what}: ${describe(cmd, r)}`);
    return r.ok;
  }

  result(held: boolean): EnforceResult {
    return { held, commands: this.commands, ...(this.errors.length ? { error: this.errors.join('; ') } : {}) };
  }
}

function lastLine(s: string): string {
  return s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).at(-1) ?? '';
}

function describe(cmd: string, r: RunResult): string {
  if (r.error) return r.error;
  const said = lastLine(r.stderr) || lastLine(r.stdout);
  return `${cmd} exited with ${r.code}${said ? `: ${said}` : ''}`;
}

export interface Win32EnforcerOptions {
  /** Skip the build lookup (tests, or a caller that already knows). */
  build?: number;
}

export class Win32UsbEnforcer {
  private build: number | null;

  constructor(private readonly run: Runner, opts: Win32EnforcerOptions = {}) {
    this.build = opts.build ?? null;
  }

  async block(device: UsbDevice): Promise<EnforceResult> {
    const s = new Steps(this.run);
    await this.addDeny(s, hardwareId(device));
    await this.setEnabled(s, device.id, false);
    const st = await this.status(s, device.id);
    return s.result(st.present ? st.code === CM_PROB_DISABLED : st.read);
  }

  async unblock(device: UsbDevice): Promise<EnforceResult> {
    const s = new Steps(this.run);
    await this.removeDeny(s, hardwareId(device));
    await this.setEnabled(s, device.id, true);
    const st = await this.status(s, device.id);
    return s.result(st.present && st.code !== CM_PROB_DISABLED);
  }

  async readonly(device: UsbDevice): Promise<EnforceResult> {
    return this.writeProtect(device, true);
  }

  async allowWrite(device: UsbDevice): Promise<EnforceResult> {
    return this.writeProtect(device, false);
  }

  private async writeProtect(device: UsbDevice, on: boolean): Promise<EnforceResult> {
    const s = new Steps(this.run);
    await s.must('write protection', 'reg.exe', ['add', STORAGE_POLICIES, '/v', 'WriteProtect', '/t', 'REG_DWORD', '/d', on ? '1' : '0', '/f']);
    // The policy is read when a volume is mounted: re-mount by cycling the device.
    if (await this.setEnabled(s, device.id, false)) await this.setEnabled(s, device.id, true);
    const q = await s.exec('reg.exe', ['query', STORAGE_POLICIES, '/v', 'WriteProtect']);
    const value = parseRegQuery(q.stdout).find((v) => v.name === 'WriteProtect')?.data;
    const st = await this.status(s, device.id);
    const policyHolds = q.ok && value !== undefined && Number(value) === (on ? 1 : 0);
    if (!policyHolds && q.ok) s.errors.push(`WriteProtect reads ${value ?? 'nothing'}`);
    return s.result(policyHolds && st.present && st.code === 0);
  }

  private async windowsBuild(s: Steps): Promise<number> {
    if (this.build !== null) return this.build;
    const r = await s.exec('reg.exe', ['query', CURRENT_VERSION, '/v', 'CurrentBuildNumber']);
    const v = parseRegQuery(r.stdout).find((x) => x.name === 'CurrentBuildNumber')?.data;
    // Unknown build: assume a current Windows (pnputil); the verification read decides either way.
    this.build = v && /^\d+$/.test(v) ? Number(v) : PNPUTIL_DEVICE_BUILD;
    return this.build;
  }

  private async setEnabled(s: Steps, id: string, enable: boolean): Promise<boolean> {
    if (await this.windowsBuild(s) >= PNPUTIL_DEVICE_BUILD) {
      // 3010: done, a reboot is needed to finish (the verification read still decides).
      return s.must(enable ? 'enable device' : 'disable device', 'pnputil.exe', [enable ? '/enable-device' : '/disable-device', id], [0, 3010]);
    }
    const verb = enable ? 'Enable-PnpDevice' : 'Disable-PnpDevice';
    return s.must(enable ? 'enable device' : 'disable device', 'powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', `$ErrorActionPreference='Stop';${verb} -InstanceId ${psQuote(id)} -Confirm:$false`], [0], false);
  }

  private async status(s: Steps, id: string): Promise<{ read: boolean; present: boolean; code: number | null }> {
    const r = await s.exec('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', statusScript(id)], [0], false);
    if (!r.ok) {
      s.errors.push(`read device status: ${describe('powershell.exe', r)}`);
      return { read: false, present: false, code: null };
    }
    const t = r.stdout.replace(/^\uFEFF/, '').trim();
    if (!t) return { read: true, present: false, code: null };
    try {
      const o = JSON.parse(t) as unknown;
      const row = (Array.isArray(o) ? o[0] : o) as { ConfigManagerErrorCode?: unknown } | undefined;
      const code = typeof row?.ConfigManagerErrorCode === 'number' ? row.ConfigManagerErrorCode : null;
      return { read: true, present: row !== undefined && row !== null, code };
    } catch {
      s.errors.push(`read device status: invalid JSON (${firstLine(t).slice(0, 80)})`);
      return { read: false, present: false, code: null };
    }
  }

  private async denyList(s: Steps): Promise<{ name: string; data: string }[] | null> {
    const r = await s.exec('reg.exe', ['query', DENY_LIST]);
    if (r.error) { s.errors.push(`read deny list: ${r.error}`); return null; }
    // Exit 1: the key does not exist yet, an empty list.
    return r.code === 0 ? parseRegQuery(r.stdout).filter((v) => v.type === 'REG_SZ') : [];
  }

  private async addDeny(s: Steps, hwid: string): Promise<void> {
    const list = await this.denyList(s);
    if (list === null) return;
    await s.must('deny policy', 'reg.exe', ['add', RESTRICTIONS, '/v', 'DenyDeviceIDs', '/t', 'REG_DWORD', '/d', '1', '/f']);
    await s.must('deny policy', 'reg.exe', ['add', RESTRICTIONS, '/v', 'DenyDeviceIDsRetroactive', '/t', 'REG_DWORD', '/d', '1', '/f']);
    if (list.some((v) => v.data.toUpperCase() === hwid.toUpperCase())) return;
    const used = new Set(list.map((v) => v.name));
    let n = 1;
    while (used.has(String(n))) n++;
    await s.must('deny policy', 'reg.exe', ['add', DENY_LIST, '/v', String(n), '/t', 'REG_SZ', '/d', hwid, '/f']);
  }

  private async removeDeny(s: Steps, hwid: string): Promise<void> {
    const list = await this.denyList(s);
    if (list === null) return;
    const ours = list.filter((v) => v.data.toUpperCase() === hwid.toUpperCase());
    for (const v of ours) await s.must('deny policy', 'reg.exe', ['delete', DENY_LIST, '/v', v.name, '/f']);
    // Nothing else denied: switch the restriction off rather than leave an empty policy on.
    if (ours.length && ours.length === list.length) {
      await s.must('deny policy', 'reg.exe', ['delete', RESTRICTIONS, '/v', 'DenyDeviceIDs', '/f']);
      await s.must('deny policy', 'reg.exe', ['delete', RESTRICTIONS, '/v', 'DenyDeviceIDsRetroactive', '/f']);
    }
  }
}
