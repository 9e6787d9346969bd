/** Pure parsers for the software collector. */
import type { PackageData } from '../../../shared/inventory.js';
import { asArray, byName, isoOrNull, psDate, str } from '../util.js';

/** /var/lib/dpkg/status: RFC 822 stanzas; only packages whose Status ends in "installed". */
export function parseDpkgStatus(text: string): PackageData[] {
  const out: PackageData[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    const f: Record<string, string> = {};
    for (const line of stanza.split('\n')) {
      if (line.startsWith(' ') || line.startsWith('\t')) continue; // continuation (Description, Conffiles)
      const i = line.indexOf(':');
      if (i > 0) f[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    if (!f.Package || !/\sinstalled$/.test(f.Status ?? '')) continue;
    out.push({ name: f.Package, version: f.Version ?? null, arch: f.Architecture ?? null, publisher: null, installedAt: null });
  }
  return out.sort(byName);
}

/** `rpm -qa --queryformat '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n'`. */
export function parseRpmQa(text: string): PackageData[] {
  return text.split('\n').flatMap((line) => {
    const [name, version, arch, time] = line.split('\t');
    if (!name?.trim()) return [];
    const t = Number(time);
    return [{ name: name.trim(), version: version || null, arch: arch && arch !== '(none)' ? arch : null, publisher: null, installedAt: t > 0 ? isoOrNull(new Date(t * 1000)) : null }];
  }).sort(byName);
}

/** Uninstall registry keys as JSON: entries without DisplayName are components, not products; duplicates (32/64-bit views) collapse. */
export function parseUninstallJson(json: unknown): PackageData[] {
  const seen = new Set<string>();
  const out: PackageData[] = [];
  for (const e of asArray(json)) {
    const name = str(e.DisplayName);
    if (!name) continue;
    const version = str(e.DisplayVersion);
    const key = `${name}\u0000${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const d = /^(\d{4})(\d{2})(\d{2})$/.exec(str(e.InstallDate) ?? '');
    out.push({ name, version, arch: null, publisher: str(e.Publisher), installedAt: d ? isoOrNull(new Date(Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!))) : null });
  }
  return out.sort(byName);
}

const ARCH_KIND: Record<string, string> = { arch_arm_i64: 'universal', arch_arm: 'arm64', arch_i64: 'x86_64', arch_i32: 'i386', arch_ios: 'ios' };

/** Publisher from the first signing identity: "Developer ID Application: Google LLC (EQHXZ8M8AV)" → "Google LLC"; Apple's own "Software Signing" → "Apple". */
function signer(signedBy: unknown): string | null {
  const first = Array.isArray(signedBy) ? str(signedBy[0]) : null;
  if (!first) return null;
  if (first === 'Software Signing' || first === 'Apple Mac OS Application Signing') return 'Apple';
  const m = /^(?:Developer ID Application|Apple Development|3rd Party Mac Developer Application):\s*(.+?)(?:\s*\([A-Z0-9]{10}\))?$/.exec(first);
  return m ? m[1]! : first;
}

/** `system_profiler SPApplicationsDataType -json`. */
export function parseSpApplications(json: unknown): PackageData[] {
  const root = asArray(json)[0] ?? {};
  return asArray(root.SPApplicationsDataType).flatMap((a) => {
    const name = str(a._name);
    if (!name) return [];
    const kind = str(a.arch_kind);
    return [{ name, version: str(a.version), arch: kind ? ARCH_KIND[kind] ?? kind.replace(/^arch_/, '') : null, publisher: signer(a.signed_by), installedAt: psDate(a.lastModified) }];
  }).sort(byName);
}
