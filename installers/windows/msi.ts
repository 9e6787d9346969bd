/**
 * The Windows MSI (`termguard-agent-<version>-x64.msi`): wixl builds it from termguard-agent.wxs,
 * then msibuild adds what wixl cannot express: the service's recovery actions
 * (MsiServiceConfigFailureActions + MsiConfigureServices), the state folder's ACL
 * (MsiLockPermissionsEx: SYSTEM and Administrators only), the deferred custom actions that write
 * enroll.json from SERVER/TOKEN/CAHASH and the installer's stop-reason note, and SERVER/TOKEN/CAHASH
 * in SecureCustomProperties (else a command-line property does not reach the elevated install).
 * The service host is WinSW from the npm package node-windows (pinned in pkg.config.json).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeBinary, ROOT, type NodeDist } from '../sea.js';

export interface MsiConfig {
  target: string;
  output: string;
  /** WinSW: `binary` is its path inside the npm package (fetched like the Node builds). */
  serviceHost: NodeDist & { license: string };
}

const HERE = join(ROOT, 'installers', 'windows');
const SERVICE = 'termguard-agent';

/** MSI ProductVersion is major.minor.build, digits only: a prerelease suffix is dropped. */
export function msiVersion(version: string): string {
  const v = version.replace(/[-+].*$/, '');
  if (!/^\d+\.\d+\.\d+$/.test(v)) throw new Error(`package.json version ${version}: not usable as an MSI ProductVersion`);
  return v;
}

function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

type Row = (string | number)[];

/** Import a table (IDT: column names, column types, table name + keys, rows; tab-separated). */
function importTable(msi: string, dir: string, table: string, header: string[], rows: Row[]): void {
  const file = join(dir, `${table}.idt`);
  writeFileSync(file, [...header, ...rows.map((r) => r.join('\t'))].join('\r\n') + '\r\n');
  run('msibuild', [msi, '-i', file]);
}

/** Append rows to a table wixl made (msibuild -i replaces a whole table, so export it first). */
function appendRows(msi: string, dir: string, table: string, rows: Row[], edit: (line: string) => string = (l) => l): void {
  const lines = run('msiinfo', ['export', msi, table]).split(/\r?\n/).filter((l) => l !== '');
  const width = lines[0]!.split('\t').length;
  const pad = (r: Row): Row => [...r, ...Array<string>(Math.max(0, width - r.length)).fill('')];
  importTable(msi, dir, table, lines.slice(0, 3), [...lines.slice(3).map(edit).map((l) => l.split('\t')), ...rows.map(pad)]);
}

// Custom action types: 34 = run an exe (Source: working directory, Target: command line);
// +1024 deferred (runs in the install script, after the files are in place), +2048 as LocalSystem,
// +8192 hide the target in logs (it carries TOKEN); +64 ignore its exit code.
const EXE_DEFERRED_SYSTEM = 34 + 1024 + 2048;
const CONTINUE_ON_ERROR = 64;
const HIDE_TARGET = 8192;
const CMD = '"[System64Folder]cmd.exe" /d /c';

export async function buildMsi(cfg: MsiConfig, version: string, agentExe: string, workDir: string, outDir: string, cacheDir: string): Promise<string> {
  for (const tool of ['wixl', 'msibuild', 'msiinfo']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch {
      throw new Error(`${tool} not found: apt-get install wixl msitools (or build without the MSI: --no-msi)`);
    }
  }
  const stage = join(workDir, 'msi');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  copyFileSync(agentExe, join(stage, 'termguard-agent.exe'));
  copyFileSync(nodeBinary(cfg.serviceHost, cacheDir), join(stage, 'termguard-agent-service.exe'));
  for (const f of ['termguard-agent-service.exe.config', 'termguard-agent-service.xml', 'LICENSE-WinSW.txt']) copyFileSync(join(HERE, f), join(stage, f));

  const out = join(outDir, cfg.output.replace('{version}', version));
  const msi = join(stage, 'termguard-agent.msi');
  // wixl resolves File/@Source relative to its working directory.
  run('wixl', ['-a', 'x64', '-D', `Version=${msiVersion(version)}`, '-D', 'SourceDir=.', '-o', msi, join(HERE, 'termguard-agent.wxs')], stage);

  const idt = join(stage, 'idt');
  mkdirSync(idt);
  // Restart after 10 s, 10 s, then 60 s; the failure count resets after a day (WinSW's onfailure says the same).
  importTable(msi, idt, 'MsiServiceConfigFailureActions', [
    'MsiServiceConfigFailureActions\tName\tEvent\tResetPeriod\tRebootMessage\tCommand\tActions\tDelayActions\tComponent_',
    's72\ts255\ti2\tI4\tL255\tL255\tS255\tS255\ts72',
    'MsiServiceConfigFailureActions\tMsiServiceConfigFailureActions',
  ], [['AgentServiceRecovery', SERVICE, 1 + 4, 86400, '', '', '1[~]1[~]1', '10000[~]10000[~]60000', 'ServiceHost']]);
  // The state folder holds agent.key: protected from inheritance, SYSTEM and Administrators only.
  importTable(msi, idt, 'MsiLockPermissionsEx', [
    'MsiLockPermissionsEx\tLockObject\tTable\tSDDL\tCondition',
    's72\ts72\ts32\ts0\tS255',
    'MsiLockPermissionsEx\tMsiLockPermissionsEx',
  ], [['StateDirAcl', 'STATEDIR', 'CreateFolder', 'D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)', '']]);
  // enroll.json from the properties (values are a URL, a URL-safe token and sha256:hex: no quoting
  // needed; the agent refuses a malformed file). The service enrolls from it at its first start and deletes it.
  const enrollJson = '{"server":"[SERVER]","token":"[TOKEN]","caHash":"[CAHASH]"}';
  appendRows(msi, idt, 'CustomAction', [
    ['WriteEnrollFile', EXE_DEFERRED_SYSTEM + HIDE_TARGET, 'STATEDIR', `${CMD} (echo ${enrollJson})>"[STATEDIR]enroll.json"`],
    // The agent reads this note when it stops and reports agent.stopped with that cause (a failure to write it does not stop the uninstall).
    ['NoteUninstall', EXE_DEFERRED_SYSTEM + CONTINUE_ON_ERROR, 'STATEDIR', `${CMD} (echo uninstall)>"[STATEDIR]stop-reason"`],
    ['NoteUpgrade', EXE_DEFERRED_SYSTEM + CONTINUE_ON_ERROR, 'STATEDIR', `${CMD} (echo upgrade)>"[STATEDIR]stop-reason"`],
  ]);
  appendRows(msi, idt, 'InstallExecuteSequence', [
    ['NoteUpgrade', 'REMOVE~="ALL" AND UPGRADINGPRODUCTCODE', 1850],
    ['NoteUninstall', 'REMOVE~="ALL" AND NOT UPGRADINGPRODUCTCODE', 1851],
    ['WriteEnrollFile', 'SERVER AND TOKEN AND CAHASH AND NOT REMOVE~="ALL"', 4010],
    ['MsiConfigureServices', 'VersionNT >= 600', 5850],
  ]);
  appendRows(msi, idt, 'Property', [], (l) => (l.startsWith('SecureCustomProperties\t') ? `${l};SERVER;TOKEN;CAHASH` : l));

  copyFileSync(msi, `${out}.part`);
  renameSync(`${out}.part`, out);
  return out;
}
