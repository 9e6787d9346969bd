/**
 * The Linux package: a .deb built with dpkg-deb from a staging tree (no debhelper). The agent's
 * single executable goes to /usr/bin/termguard-agent; the maintainer scripts, unit, default config
 * and lintian overrides are the files beside this one.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { PkgConfig } from '../sea.js';

const HERE = dirname(new URL(import.meta.url).pathname);

function put(root: string, path: string, data: string | Buffer, mode: number): void {
  const f = join(root, path);
  mkdirSync(dirname(f), { recursive: true, mode: 0o755 });
  writeFileSync(f, data);
  chmodSync(f, mode);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

/** Debian changelog of a native package (one entry per version; the date comes from SOURCE_DATE_EPOCH when set). */
function changelog(pkg: string, version: string, maintainer: string): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000));
  const date = new Date(epoch * 1000).toUTCString().replace(/GMT$/, '+0000').replace(/^(\w+),/, '$1,');
  return `${pkg} (${version}) stable; urgency=medium\n\n  * Release ${version}.\n\n -- ${maintainer}  ${date}\n`;
}

export async function buildDeb(cfg: PkgConfig, version: string, binary: string, workDir: string, outDir: string): Promise<string> {
  const d = cfg.deb;
  const root = join(workDir, 'deb-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true, mode: 0o755 });

  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(binary, join(root, 'usr/bin/termguard-agent'));
  chmodSync(join(root, 'usr/bin/termguard-agent'), 0o755);
  put(root, 'lib/systemd/system/termguard-agent.service', readFileSync(join(HERE, 'termguard-agent.service')), 0o644);
  put(root, 'etc/termguard/agent.json', readFileSync(join(HERE, 'agent.json')), 0o644);
  put(root, `usr/share/doc/${d.package}/copyright`, readFileSync(join(HERE, 'copyright')), 0o644);
  put(root, `usr/share/doc/${d.package}/changelog.gz`, gzipSync(changelog(d.package, version, d.maintainer), { level: 9 }), 0o644);
  put(root, `usr/share/lintian/overrides/${d.package}`, readFileSync(join(HERE, 'lintian-overrides')), 0o644);

  const files = walk(root).sort();
  const installedKiB = Math.ceil(files.reduce((n, f) => n + statSync(f).size, 0) / 1024);
  const md5sums = files.filter((f) => !f.startsWith(join(root, 'etc/')))
    .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(root, f)}\n`).join('');

  const control = [
    `Package: ${d.package}`,
    `Version: ${version}`,
    `Architecture: ${d.architecture}`,
    `Maintainer: ${d.maintainer}`,
    `Installed-Size: ${installedKiB}`,
    `Depends: ${d.depends.join(', ')}`,
    'Recommends: nftables',
    'Section: admin',
    'Priority: optional',
    'Description: termguard endpoint security agent',
    ' Monitors the host, controls removable media and outbound connections,',
    ' and reports to the institution\'s termguard server over mutual TLS.',
    ' Enrolls unattended from /etc/termguard/enroll.json at install time.',
    '',
  ].join('\n');
  put(root, 'DEBIAN/control', control, 0o644);
  put(root, 'DEBIAN/conffiles', '/etc/termguard/agent.json\n', 0o644);
  put(root, 'DEBIAN/md5sums', md5sums, 0o644);
  for (const s of ['postinst', 'prerm', 'postrm']) put(root, `DEBIAN/${s}`, readFileSync(join(HERE, 'debian', s)), 0o755);

  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, d.output.replace('{version}', version));
  // xz at a low preset: the executable is ~120 MiB and higher presets cost far more time than they save.
  await promisify(execFile)('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', root, out]);
  return out;
}
