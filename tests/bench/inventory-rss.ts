/**
 * Memory of the first monitoring round: the real agent (`termguard-agent run`, enrolled against a
 * running server, TERMGUARD_INTERVALS_INVENTORYCHANGES=5 so the first full inventory, checks and
 * attestation start within 5 s) next to a bare `node -e 'setInterval(()=>{},1e3)'` started at the
 * same moment. VmRSS of both every 100 ms; peak until the server has stored the agent's
 * host.attestation, then RSS after a settle. The 5 s interval keeps the watched sections polled every
 * 5 s during the settle (the default is 300 s), so "settled" is a busier agent than in production.
 * Env: BENCH_RSS_SETTLE_SECONDS (60), BENCH_RSS_TIMEOUT_SECONDS (300),
 * BENCH_RSS_DEBUG=1 (the agent also logs process.memoryUsage() each second and writes a heap
 * snapshot when the round ends and after the settle, into tests/bench/.cache/inventory-rss/; changes what is measured).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AGENT_CLI, CACHE_DIR, ROOT, createToken, ensureBuilt, initServerData, num, ratio, removeTemp, rssKiB, runCli, sleep,
  startServerProcess, stopChild, table, tempDir, track,
} from './lib.js';

const SETTLE = Number(process.env.BENCH_RSS_SETTLE_SECONDS ?? 60);
const TIMEOUT = Number(process.env.BENCH_RSS_TIMEOUT_SECONDS ?? 300);
const DEBUG = process.env.BENCH_RSS_DEBUG === '1';
const TARGET_PEAK = 2;
const TARGET_SETTLED = 1.5;
const SAMPLE_MS = 100;

/** Loaded with --import in the agent under BENCH_RSS_DEBUG: a memory line a second, never keeping the process alive. */
const probe = (file: string) => `data:text/javascript,${encodeURIComponent(
  `import{appendFileSync}from'node:fs';const t0=Date.now();setInterval(()=>{appendFileSync(${JSON.stringify(file)},JSON.stringify({s:(Date.now()-t0)/1000,...process.memoryUsage()})+'\\n')},1000).unref();`,
)}`;

interface Series { t: number[]; agent: number[]; bare: number[]; agentAnon: number[] }

/** VmRSS and RssAnon in KiB: file-backed pages (node's own code, touched as more JS runs) are shared with every node on the host. */
function rss(pid: number): { total: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { total: kib('VmRSS'), anon: kib('RssAnon') };
}

const mib = (kib: number) => kib / 1024;

export async function inventoryRss(): Promise<void> {
  ensureBuilt();
  const tmp = tempDir('tg-bench-rss-');
  const debugDir = join(CACHE_DIR, 'inventory-rss');
  if (DEBUG) {
    rmSync(debugDir, { recursive: true, force: true });
    mkdirSync(debugDir, { recursive: true });
  }
  try {
    const dataDir = join(tmp, 'data');
    const caHash = initServerData(dataDir);
    const token = createToken(dataDir, 1);
    const srv = await startServerProcess(dataDir);
    try {
      const state = join(tmp, 'agent');
      const config = join(tmp, 'agent.json');
      writeFileSync(config, JSON.stringify({ machineId: 'bench-inventory-rss' }));
      runCli(AGENT_CLI, ['enroll', '--server', srv.consoleUrl, '--token', token, '--ca-hash', caHash, '--state', state, '--config', config]);
      const logFd = openSync(join(tmp, 'agent.log'), 'a');
      const nodeArgs = DEBUG ? ['--import', probe(join(debugDir, 'memory.jsonl')), '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${debugDir}`] : [];
      const agent = track(spawn(process.execPath, [...nodeArgs, AGENT_CLI, 'run', '--state', state, '--config', config], {
        cwd: ROOT, stdio: ['ignore', logFd, logFd], env: { ...process.env, TERMGUARD_INTERVALS_INVENTORYCHANGES: '5' },
      }));
      const bare = track(spawn(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { cwd: ROOT, stdio: 'ignore' }));
      closeSync(logFd);
      const t0 = Date.now();
      const series: Series = { t: [], agent: [], bare: [], agentAnon: [] };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          try {
            const a = rss(agent.pid!);
            series.bare.push(rssKiB(bare.pid!));
            series.agent.push(a.total);
            series.agentAnon.push(a.anon);
            series.t.push((Date.now() - t0) / 1000);
          } catch { /* a process is gone: the bench fails below */ }
          await sleep(SAMPLE_MS);
        }
      })();
      try {
        process.stdout.write(`inventory-rss: agent and bare node, RSS every ${SAMPLE_MS} ms until the first host.attestation is stored, then ${SETTLE} s settle\n`);
        const seen = await untilAttested(dataDir, agent, t0);
        const roundEnd = series.t.length;
        const peakAt = series.agent.indexOf(Math.max(...series.agent));
        if (DEBUG) agent.kill('SIGUSR2');
        await sleep(SETTLE * 1000);
        sampling = false;
        await sampler;
        if (DEBUG) {
          agent.kill('SIGUSR2');
          await sleep(3000);
        }
        const during = { agent: Math.max(...series.agent.slice(0, roundEnd)), bare: Math.max(...series.bare.slice(0, roundEnd)) };
        const last10 = series.t.findIndex((t) => t >= series.t.at(-1)! - 10);
        const tail = series.agent.slice(last10);
        const settled = { agent: series.agent.at(-1)!, bare: series.bare.at(-1)! };
        const startIdx = series.t.findIndex((t) => t >= 1.5);
        const startup = { agent: series.agent[startIdx] ?? NaN, bare: series.bare[startIdx] ?? NaN };
        const log = readFileSync(join(tmp, 'agent.log'), 'utf8');
        const errors = log.split('\n').filter((l) => /"level":(50|60)/.test(l)).length;
        process.stdout.write(table(
          `inventory-rss — agent's first full inventory + checks + attestation vs bare node, then ${SETTLE} s (watched sections every 5 s)`,
          ['what', 'termguard agent', 'bare node', 'ratio'],
          [
            ['RSS MiB 1.5 s after start', num(mib(startup.agent), 1), num(mib(startup.bare), 1), ratio(startup.agent, startup.bare)],
            ['peak RSS MiB during the round', num(mib(during.agent), 1), num(mib(during.bare), 1), ratio(during.agent, during.bare)],
            [`RSS MiB after ${SETTLE} s settle`, num(mib(settled.agent), 1), num(mib(settled.bare), 1), ratio(settled.agent, settled.bare)],
            ['agent RSS MiB, last 10 s min–max', `${num(mib(Math.min(...tail)), 1)}–${num(mib(Math.max(...tail)), 1)}`, '', ''],
            ['agent RssAnon MiB: 1.5 s / peak / settled', [startIdx, peakAt, series.t.length - 1].map((i) => num(mib(series.agentAnon[i] ?? NaN), 1)).join(' / '), '', ''],
          ],
          [
            `targets: peak ≤ ${TARGET_PEAK}x bare: ${during.agent / during.bare <= TARGET_PEAK ? 'met' : 'NOT met'}; ` +
              `settled ≤ ${TARGET_SETTLED}x bare: ${settled.agent / settled.bare <= TARGET_SETTLED ? 'met' : 'NOT met'}`,
            `stored after start: inventory ${num(seen.inventory, 1)} s, checks ${num(seen.check, 1)} s, attestation ${num(seen.attestation, 1)} s; ` +
              `agent peak at ${num(series.t[peakAt] ?? NaN, 1)} s; ${series.t.length} samples; agent log error lines: ${errors}`,
            ...(DEBUG ? [`debug: memory lines and heap snapshots in ${debugDir}: ${readdirSync(debugDir).join(', ')}`] : []),
          ],
        ));
        if (DEBUG) writeFileSync(join(debugDir, 'rss.json'), JSON.stringify(series));
      } finally {
        sampling = false;
        await sampler;
        await Promise.all([stopChild(agent), stopChild(bare)]);
      }
    } finally {
      await srv.stop();
    }
  } finally {
    removeTemp(tmp);
  }
}

/** Seconds after `t0` at which the server had stored the first inventory, check and attestation events. */
async function untilAttested(dataDir: string, agent: { exitCode: number | null }, t0: number): Promise<Record<'inventory' | 'check' | 'attestation', number>> {
  const file = join(dataDir, 'termguard.db');
  const seen: Record<string, number> = {};
  let db: Database.Database | undefined;
  try {
    while (Date.now() - t0 < TIMEOUT * 1000) {
      if (agent.exitCode !== null) throw new Error(`agent exited ${agent.exitCode} before its first attestation`);
      if (!db && existsSync(file)) db = new Database(file, { readonly: true, fileMustExist: true });
      if (db) {
        const rows = db.prepare(`SELECT type, count(*) AS n FROM events WHERE type IN ('host.inventory', 'host.check', 'host.attestation') GROUP BY type`).all() as { type: string; n: number }[];
        for (const r of rows) seen[r.type.slice('host.'.length)] ??= (Date.now() - t0) / 1000;
        if (seen.attestation !== undefined) return seen as Record<'inventory' | 'check' | 'attestation', number>;
      }
      await sleep(250);
    }
    throw new Error(`no host.attestation stored within ${TIMEOUT} s`);
  } finally {
    db?.close();
  }
}
