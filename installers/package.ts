/**
 * npm run package [-- --all | --target linux-x64,win-x64 | --no-deb | --no-msi | --no-macos | --out DIR]
 * Builds the agent's single executables (pkg.config.json), the Linux .deb, the Windows MSI and the
 * macOS tarball into dist/packages/ (or --out DIR; intermediate files then in DIR-build).
 * By default only pkg.config.json's defaultTargets (linux-x64, win-x64); --all builds every target.
 * A package is built when its target's executable is among those built.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleAgent, checkFormat, inject, makeBlob, nodeBinary, productVersion, readConfig, ROOT, type PkgConfig } from './sea.js';
import { buildDeb } from './linux/deb.js';
import { buildMsi, type MsiConfig } from './windows/msi.js';
import { buildMacTarball, type MacConfig } from './macos/tarball.js';

const CACHE = join(ROOT, '.tmp', 'node-dist');

interface Options { targets: string[] | 'all' | null; deb: boolean; msi: boolean; macos: boolean; out: string | null }

function args(argv: string[]): Options {
  let targets: string[] | 'all' | null = null;
  let deb = true;
  let msi = true;
  let macos = true;
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--all') targets = 'all';
    else if (a === '--target') targets = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--target=')) targets = a.slice(9).split(',').filter(Boolean);
    else if (a === '--no-deb') deb = false;
    else if (a === '--no-msi') msi = false;
    else if (a === '--no-macos') macos = false;
    else if (a === '--out') out = resolve(argv[++i] ?? '');
    else if (a.startsWith('--out=')) out = resolve(a.slice(6));
    else if (a === '--help') {
      process.stdout.write('usage: npm run package [-- --all | --target T[,T…] | --no-deb | --no-msi | --no-macos | --out DIR]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return { targets, deb, msi, macos, out };
}

const mib = (f: string) => `${(statSync(f).size / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const opts = args(process.argv.slice(2));
  const cfg = readConfig() as PkgConfig & { msi: MsiConfig; macos: MacConfig };
  const OUT = opts.out ?? join(ROOT, 'dist', 'packages');
  const WORK = opts.out ? `${opts.out}-build` : join(ROOT, 'dist', 'package-build');
  const version = productVersion();
  const names = opts.targets === 'all' ? Object.keys(cfg.targets) : opts.targets ?? cfg.defaultTargets;
  for (const n of names) if (!cfg.targets[n]) throw new Error(`unknown target ${n} (pkg.config.json has ${Object.keys(cfg.targets).join(', ')})`);
  mkdirSync(OUT, { recursive: true });
  mkdirSync(WORK, { recursive: true });

  const started = Date.now();
  const bundle = join(WORK, 'agent.cjs');
  await bundleAgent(cfg, version, bundle);
  process.stdout.write(`bundle ${bundle} (${mib(bundle)}) in ${Date.now() - started} ms\n`);

  const blobs = new Map<string, string>();
  const blobFor = (v: string) => {
    if (!blobs.has(v)) blobs.set(v, makeBlob(cfg, v, bundle, WORK, CACHE));
    return blobs.get(v)!;
  };
  const buildTarget = async (name: string) => {
    const t0 = Date.now();
    const target = cfg.targets[name]!;
    const out = join(OUT, target.output);
    await inject(cfg, target, nodeBinary(target.node, CACHE), blobFor(target.node.version), out);
    checkFormat(out, target.format);
    if (name === `${process.platform}-${process.arch}`) {
      const got = execFileSync(out, ['--version'], { encoding: 'utf8', env: { PATH: '/nonexistent' } }).trim();
      if (got !== version) throw new Error(`${out} --version printed ${JSON.stringify(got)}, expected ${version}`);
    }
    process.stdout.write(`${name}: ${out} (${mib(out)}, Node ${target.node.version}) in ${Date.now() - t0} ms\n`);
  };
  const buildMsiPackage = async () => {
    const t0 = Date.now();
    const msi = await buildMsi(cfg.msi, version, join(OUT, cfg.targets[cfg.msi.target]!.output), WORK, OUT, CACHE);
    process.stdout.write(`msi: ${msi} (${mib(msi)}) in ${Date.now() - t0} ms\n`);
  };
  const buildMacPackage = async () => {
    const t0 = Date.now();
    const tgz = buildMacTarball(cfg.macos, version, join(OUT, cfg.targets[cfg.macos.target]!.output), WORK, OUT);
    process.stdout.write(`macos: ${tgz} (${mib(tgz)}) in ${Date.now() - t0} ms\n`);
  };
  const buildDebPackage = async () => {
    const t0 = Date.now();
    const deb = await buildDeb(cfg, version, join(OUT, cfg.targets[cfg.deb.target]!.output), WORK, OUT);
    process.stdout.write(`deb: ${deb} (${mib(deb)}) in ${Date.now() - t0} ms\n`);
  };

  // The .deb needs the linux-x64 executable; once it exists, packing the .deb (xz) runs beside the
  // other targets' injections (postject is single-threaded).
  const withDeb = opts.deb && names.includes(cfg.deb.target);
  const first = withDeb ? [cfg.deb.target] : [];
  for (const n of first) await buildTarget(n);
  // The MSI and the macOS tarball follow their executable, in the same chain.
  const after: Record<string, () => Promise<void>> = {};
  if (opts.msi && names.includes(cfg.msi.target)) after[cfg.msi.target] = buildMsiPackage;
  if (opts.macos && names.includes(cfg.macos.target)) after[cfg.macos.target] = buildMacPackage;
  const rest = (async () => {
    for (const n of names.filter((x) => !first.includes(x))) {
      await buildTarget(n);
      await after[n]?.();
    }
  })();
  await Promise.all([rest, withDeb ? buildDebPackage() : Promise.resolve()]);
  process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
