/**
 * Node single executable applications (SEA) for the agent: one CommonJS bundle (esbuild), a
 * preparation blob made by a Node of exactly the target's version, injected with postject.
 * Inputs are described by pkg.config.json; Node binaries come from the npm packages node-<os>-<arch>.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';

export interface NodeDist { package: string; version: string; binary: string; integrity: string }
export interface Target { output: string; format: 'elf' | 'pe' | 'macho'; node: NodeDist }
export interface PkgConfig {
  name: string;
  entry: string;
  bundle: { format: 'cjs'; platform: 'node'; target: string; minify: boolean; inlineVersionFrom: string };
  nativeAddons: string[];
  sea: { fuse: string; resource: string; machoSegmentName: string; disableExperimentalSEAWarning: boolean; useCodeCache: boolean; useSnapshot: boolean };
  defaultTargets: string[];
  targets: Record<string, Target>;
  blobGenerators: Record<string, NodeDist>;
  deb: { package: string; architecture: string; target: string; output: string; maintainer: string; depends: string[] };
}

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

export function readConfig(): PkgConfig {
  return JSON.parse(readFileSync(join(ROOT, 'pkg.config.json'), 'utf8')) as PkgConfig;
}

export function productVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The bundle cannot read package.json at run time (no import.meta, no file beside it): bake the version in. */
function inlineVersion(file: string, version: string): Plugin {
  const abs = join(ROOT, file);
  return {
    name: 'inline-version',
    setup(b) {
      b.onLoad({ filter: /version\.ts$/ }, (args) => (args.path === abs
        ? { contents: `export const VERSION: string = ${JSON.stringify(version)};\n`, loader: 'ts' }
        : undefined));
    },
  };
}

/** Bundle the agent CLI into one CommonJS file (SEA runs only CommonJS). A native addon fails the build: none is expected. */
export async function bundleAgent(cfg: PkgConfig, version: string, outFile: string): Promise<void> {
  mkdirSync(dirname(outFile), { recursive: true });
  await build({
    entryPoints: [join(ROOT, cfg.entry)],
    bundle: true,
    platform: cfg.bundle.platform,
    format: cfg.bundle.format,
    target: cfg.bundle.target,
    minify: cfg.bundle.minify,
    keepNames: true,
    legalComments: 'none',
    outfile: outFile,
    logLevel: 'error',
    plugins: [inlineVersion(cfg.bundle.inlineVersionFrom, version)],
  });
  // A hashbang is not valid inside the function SEA wraps the script in.
  const text = readFileSync(outFile, 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(outFile, text);
}

function sriOf(file: string): string {
  return 'sha512-' + createHash('sha512').update(readFileSync(file)).digest('base64');
}

/** The Node binary of a dist, fetched once with `npm pack` into `cacheDir` and checked against the pinned integrity. */
export function nodeBinary(dist: NodeDist, cacheDir: string): string {
  const dir = join(cacheDir, `${dist.package}-${dist.version}`);
  const bin = join(dir, dist.binary);
  if (existsSync(bin)) return bin;
  mkdirSync(cacheDir, { recursive: true });
  const tgz = join(cacheDir, `${dist.package}-${dist.version}.tgz`);
  if (!existsSync(tgz)) {
    // npm pack fetches the tarball without installing it: the os/cpu fields of these packages refuse an install on another platform.
    // Into a folder of its own, then renamed: two package builds (parallel tests) may fetch the same dist.
    const fetchDir = mkdtempSync(join(cacheDir, '.fetch-'));
    execFileSync('npm', ['pack', '--silent', `${dist.package}@${dist.version}`, '--pack-destination', fetchDir], { stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(join(fetchDir, `${dist.package}-${dist.version}.tgz`), tgz);
    rmSync(fetchDir, { recursive: true, force: true });
  }
  const got = sriOf(tgz);
  if (got !== dist.integrity) {
    rmSync(tgz, { force: true });
    throw new Error(`${dist.package}@${dist.version}: integrity ${got} does not match pkg.config.json`);
  }
  const tmp = `${dir}.part-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1', `package/${dist.binary}`]);
  if (existsSync(dir) && !existsSync(bin)) rmSync(dir, { recursive: true, force: true }); // a stale folder
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(bin)) throw e; // else another build extracted it meanwhile
  }
  return bin;
}

/** The preparation blob, made by a linux-x64 Node of the target's exact version (Node refuses a blob from another version). */
export function makeBlob(cfg: PkgConfig, version: string, mainFile: string, workDir: string, cacheDir: string): string {
  const gen = cfg.blobGenerators[version];
  if (!gen) throw new Error(`pkg.config.json: no blobGenerators entry for Node ${version}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    if (process.version !== `v${version}`) throw new Error(`blob for Node ${version}: run the package step on linux-x64 or with Node ${version}`);
  }
  const node = process.platform === 'linux' && process.arch === 'x64' ? nodeBinary(gen, cacheDir) : process.execPath;
  const output = join(workDir, `sea-${version}.blob`);
  const seaConfig = join(workDir, `sea-config-${version}.json`);
  writeFileSync(seaConfig, JSON.stringify({
    main: mainFile, output,
    disableExperimentalSEAWarning: cfg.sea.disableExperimentalSEAWarning,
    // Code cache and snapshots load only on the platform that made them; these blobs go cross-platform.
    useCodeCache: cfg.sea.useCodeCache, useSnapshot: cfg.sea.useSnapshot,
    assets: {},
  }, null, 2));
  quiet(node, ['--experimental-sea-config', seaConfig]);
  return output;
}

const execFileAsync = promisify(execFile);

/** Copy the target's Node binary and inject the blob with postject (Mach-O needs its own segment name). */
export async function inject(cfg: PkgConfig, target: Target, nodeBin: string, blob: string, outFile: string): Promise<void> {
  const tmp = `${outFile}.part`;
  copyFileSync(nodeBin, tmp);
  chmodSync(tmp, 0o755);
  const args = [join(ROOT, 'node_modules/postject/dist/cli.js'), tmp, cfg.sea.resource, blob, '--sentinel-fuse', cfg.sea.fuse];
  if (target.format === 'macho') args.push('--macho-segment-name', cfg.sea.machoSegmentName);
  // postject (LIEF) warns about Node's note sections and, on Windows, the Authenticode signature the
  // injection invalidates; both are expected, so its output is shown only when it fails.
  try {
    await execFileAsync(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`postject ${outFile} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
  renameSync(tmp, outFile);
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${x.message}\n${x.stdout?.toString() ?? ''}${x.stderr?.toString() ?? ''}`);
  }
}

/** Cheap format check of the result: ELF, PE32+ (x86-64) or 64-bit Mach-O. */
export function checkFormat(file: string, format: Target['format']): void {
  const b = readFileSync(file).subarray(0, 4096);
  if (format === 'elf' && b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF file`);
  if (format === 'macho' && b.readUInt32LE(0) !== 0xfeedfacf) throw new Error(`${file}: not a 64-bit Mach-O file`);
  if (format === 'pe') {
    const pe = b.readUInt32LE(0x3c);
    if (b.toString('latin1', 0, 2) !== 'MZ' || b.toString('latin1', pe, pe + 4) !== 'PE\0\0' || b.readUInt16LE(pe + 24) !== 0x20b) {
      throw new Error(`${file}: not a PE32+ executable`);
    }
  }
}

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
