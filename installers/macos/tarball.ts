/**
 * The macOS package: `termguard-agent-<version>-darwin-x64.tar.gz`. Debian has no tool to build a flat
 * package (.pkg needs xar and mkbom; neither bomutils nor xar is packaged), so it is a tarball of one
 * folder holding the darwin-x64 executable, the launchd daemon plist, the newsyslog rotation and
 * install.sh / uninstall.sh. The executable must be signed on a Mac before it is deployed (README).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../sea.js';

export interface MacConfig { target: string; output: string; label: string }

const HERE = join(ROOT, 'installers', 'macos');

export function buildMacTarball(cfg: MacConfig, version: string, darwinExe: string, workDir: string, outDir: string): string {
  const name = cfg.output.replace('{version}', version).replace(/\.tar\.gz$/, '');
  const stage = join(workDir, 'macos');
  const top = join(stage, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(top, { recursive: true });
  const put = (from: string, to: string, mode: number) => { copyFileSync(from, join(top, to)); chmodSync(join(top, to), mode); };
  put(darwinExe, 'termguard-agent', 0o755);
  put(join(HERE, `${cfg.label}.plist`), `${cfg.label}.plist`, 0o644);
  put(join(HERE, 'termguard.newsyslog.conf'), 'termguard.newsyslog.conf', 0o644);
  put(join(HERE, 'install.sh'), 'install.sh', 0o755);
  put(join(HERE, 'uninstall.sh'), 'uninstall.sh', 0o755);
  writeFileSync(join(top, 'README.txt'), [
    `termguard agent ${version} for macOS (x86-64; runs on Apple Silicon under Rosetta 2)`,
    '',
    'Sign the executable on a Mac first (Apple Silicon refuses unsigned code):',
    '  codesign --force --sign "Developer ID Application: …" --options runtime termguard-agent',
    'Install or upgrade (state is kept), enrolling from enroll.json {"server","token","caHash"}:',
    '  sudo ./install.sh enroll.json',
    'Remove (add --purge to delete the identity and spool too):',
    '  sudo ./uninstall.sh',
    '',
  ].join('\n'));
  const out = join(outDir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', `${out}.part`, '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-C', stage, name]);
  renameSync(`${out}.part`, out);
  return out;
}
