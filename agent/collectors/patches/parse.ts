/** Pure parsers for the patches collector. Every input is local metadata: nothing here reaches a network. */
import type { PatchesData } from '../../../shared/inventory.js';
import { asArray, isoOrNull, psDate, str } from '../util.js';

type Pending = PatchesData['pending'][number];
type Installed = PatchesData['installed'][number];

/**
 * `apt-get -s -o Debug::NoLocking=1 upgrade`: "Inst pkg [old] (new Origin:Version/suite [arch])" lines.
 * A package is a security update when an origin/suite names "-security" (Debian-Security:12/stable-security, jammy-security).
 */
export function parseAptSimulate(text: string): Pending[] {
  const out: Pending[] = [];
  for (const line of text.split('\n')) {
    const m = /^Inst\s+(\S+)(?:\s+\[[^\]]*\])?\s+\((\S+)\s+(.*?)\s*(?:\[[^\]]*\])?\)/.exec(line);
    if (!m) continue;
    const origin = m[3]!.trim();
    out.push({ name: m[1]!, version: m[2]!, security: /-security/i.test(origin), origin: origin || null });
  }
  return out;
}

/** `dnf --cacheonly -q updateinfo list --security`: "RHSA-2024:1234 Important/Sec. openssl-1:3.0.7-25.el9_3.x86_64". */
export function parseDnfUpdateinfo(text: string): Pending[] {
  const out: Pending[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !/^[A-Z]+-\d{4}[:-]/.test(f[0]!)) continue;
    const nevra = f[f.length - 1]!;
    const m = /^(.+)-((?:\d+:)?[^-]+-[^-]+)\.([^.]+)$/.exec(nevra);
    out.push({ name: m ? m[1]! : nevra, version: m ? m[2]! : null, security: /Sec\.|security/i.test(f[1]!) || f[0]!.startsWith('RHSA') || f[0]!.includes('SA-'), origin: f[0]! });
  }
  return out;
}

/** `Get-HotFix | Select … | ConvertTo-Json`. */
export function parseHotfixes(json: unknown): Installed[] {
  return asArray(json).flatMap((h) => {
    const id = str(h.HotFixID);
    return id ? [{ id, description: str(h.Description), installedAt: psDate(h.InstalledOn) }] : [];
  }).sort((a, b) => (b.installedAt ?? '').localeCompare(a.installedAt ?? ''));
}

/** `system_profiler SPInstallHistoryDataType -json`. */
export function parseInstallHistory(json: unknown): Installed[] {
  const root = asArray(json)[0] ?? {};
  return asArray(root.SPInstallHistoryDataType).flatMap((h) => {
    const name = str(h._name);
    if (!name) return [];
    const v = str(h.install_version);
    return [{ id: v ? `${name} ${v}` : name, description: str(h.package_source)?.replace(/^package_source_/, '') ?? null, installedAt: psDate(h.install_date) }];
  }).sort((a, b) => (b.installedAt ?? '').localeCompare(a.installedAt ?? ''));
}

/**
 * `defaults read /Library/Preferences/com.apple.SoftwareUpdate RecommendedUpdates`: an old-style plist
 * array of dictionaries, written by the last scheduled check. macOS updates and "Security Response"
 * updates carry security fixes, so both count as security.
 */
export function parseRecommendedUpdates(text: string): Pending[] {
  const out: Pending[] = [];
  for (const block of text.split(/\}\s*,?/)) {
    const get = (k: string) => new RegExp(`(?:"${k}"|\\b${k.replace(/ /g, '')})\\s*=\\s*"?([^";]*)"?;`).exec(block)?.[1]?.trim() ?? null;
    const name = get('Display Name');
    const id = get('Identifier') ?? get('Product Key');
    if (!name && !id) continue;
    const all = `${name ?? ''} ${id ?? ''}`;
    out.push({ name: name ?? id!, version: get('Display Version'), security: /security|MSU_UPDATE|macOS|XProtect|Background/i.test(all), origin: id });
  }
  return out;
}

export function newest(dates: (Date | null)[]): string | null {
  const ms = dates.filter((d): d is Date => d !== null).map((d) => d.getTime());
  return ms.length ? isoOrNull(new Date(Math.max(...ms))) : null;
}
