/**
 * A throwaway root for installing a .deb with `dpkg --root`: a usrmerged tree holding only what the
 * maintainer scripts and the agent need (dash, a few coreutils, sed, their libraries, /dev/null),
 * its own dpkg database, and status entries and file lists for the library packages whose files were copied in.
 * dpkg unpacks into it and runs the maintainer scripts chrooted into it, as on a real machine;
 * there is no running systemd (no /run/systemd/system), no systemctl and no deb-systemd-helper.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Tools the maintainer scripts call. */
const TOOLS = ['sh', 'mkdir', 'chmod', 'rm', 'shred', 'sed', 'tr', 'cat'];
/** Packages whose libraries the agent executable links (its Depends), recorded as installed. */
const LIB_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6'];

function which(cmd: string): string {
  return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
}

/** Shared libraries of an ELF file, as ldd resolves them on this host. */
function libsOf(file: string): string[] {
  const out = execFileSync('ldd', [file], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+)/g)].map((m) => m[1]!).filter((p) => !p.includes('('));
}

/** Copy a host file into the root under the usrmerged path (/lib/x → /usr/lib/x). */
function copyIn(root: string, hostPath: string, as?: string): void {
  const rel = (as ?? hostPath).replace(/^\/(lib|lib64|bin|sbin)\//, '/usr/$1/');
  const dest = join(root, rel);
  mkdirSync(dirname(dest), { recursive: true });
  if (!existsSync(dest)) copyFileSync(realpathSync(hostPath), dest);
}

export function makeDebRoot(extraElf: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'tg-debroot-'));
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc', 'tmp', 'dev', 'var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) symlinkSync(target, join(root, link));
  for (const t of TOOLS) {
    const p = which(t);
    copyIn(root, p, `/usr/bin/${t}`);
    for (const l of libsOf(realpathSync(p))) copyIn(root, l);
  }
  for (const f of extraElf) for (const l of libsOf(f)) copyIn(root, l);
  execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '444', join(root, 'dev/urandom'), 'c', '1', '9']);
  writeFileSync(join(root, 'etc/machine-id'), randomBytes(16).toString('hex') + '\n');
  // The libraries above came from these packages: say so in the root's dpkg database.
  const status = execFileSync('dpkg-query', ['-W', '-f', 'Package: ${Package}\nStatus: install ok installed\nPriority: ${Priority}\nSection: ${Section}\nMaintainer: ${Maintainer}\nArchitecture: ${Architecture}\nMulti-Arch: ${Multi-Arch}\nVersion: ${Version}\nDescription: ${binary:Summary}\n\n', ...LIB_PACKAGES.map((p) => `${p}:amd64`)], { encoding: 'utf8' });
  writeFileSync(join(root, 'var/lib/dpkg/status'), status.replace(/^Multi-Arch: \n/gm, ''));
  // Their file lists as on this host: dpkg then knows /lib and /lib64 are shared and keeps them on purge.
  for (const p of LIB_PACKAGES) writeFileSync(join(root, `var/lib/dpkg/info/${p}:amd64.list`), execFileSync('dpkg-query', ['-L', `${p}:amd64`], { encoding: 'utf8' }));
  writeFileSync(join(root, 'var/lib/dpkg/available'), '');
  return root;
}

/** Every path under `root` (type and mode included), dpkg's own database left out. */
export function fileList(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r.startsWith('var/lib/dpkg')) continue;
      const st = lstatSync(join(root, r));
      out.push(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${(st.mode & 0o7777).toString(8)} ${r}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
