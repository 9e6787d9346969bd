/**
 * Idle cost: the real agent (`termguard-agent run`, enrolled against a running server) next to a
 * bare `node -e 'setInterval(()=>{},1e3)'` started at the same moment. RSS (VmRSS) at the end; CPU
 * (utime+stime) over the window after a short settle, so start-up is reported apart from idling.
 * Env: BENCH_IDLE_SECONDS (600), BENCH_IDLE_SETTLE (5).
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_CLI, ROOT, cpuSeconds, createToken, ensureBuilt, initServerData, num, ratio, removeTemp, rssKiB, runCli, sleep,
  startServerProcess, stopChild, table, tempDir, track, CpuWindow, CLK_TCK,
} from './lib.js';

const SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 600);
const SETTLE = Number(process.env.BENCH_IDLE_SETTLE ?? 5);
const TARGET_RSS_RATIO = 1.5;
const TARGET_CPU = 0.2;

export async function idle(): Promise<void> {
  ensureBuilt();
  const tmp = tempDir('tg-bench-idle-');
  try {
    const dataDir = join(tmp, 'data');
    const caHash = initServerData(dataDir);
    const token = createToken(dataDir, 1);
    const srv = await startServerProcess(dataDir);
    try {
      const state = join(tmp, 'agent');
      const config = join(tmp, 'agent.json');
      writeFileSync(config, JSON.stringify({ machineId: 'bench-idle' }));
      runCli(AGENT_CLI, ['enroll', '--server', srv.consoleUrl, '--token', token, '--ca-hash', caHash, '--state', state, '--config', config]);
      const logFd = openSync(join(tmp, 'agent.log'), 'a');
      const started = Date.now();
      const agent = track(spawn(process.execPath, [AGENT_CLI, 'run', '--state', state, '--config', config], { cwd: ROOT, stdio: ['ignore', logFd, logFd] }));
      const bare = track(spawn(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { cwd: ROOT, stdio: 'ignore' }));
      closeSync(logFd);
      try {
        process.stdout.write(`idle: agent and bare node for ${SETTLE} s settle + ${SECONDS} s\n`);
        await sleep(SETTLE * 1000);
        const startup = { agent: cpuSeconds(agent.pid!), bare: cpuSeconds(bare.pid!) };
        const cpu = new CpuWindow({ agent: [agent.pid!], bare: [bare.pid!], server: [srv.proc.pid!] });
        await sleep(SECONDS * 1000);
        const use = cpu.end();
        const total = { agent: cpuSeconds(agent.pid!), bare: cpuSeconds(bare.pid!) };
        const rss = { agent: rssKiB(agent.pid!) / 1024, bare: rssKiB(bare.pid!) / 1024 };
        const wall = (Date.now() - started) / 1000;
        const status = JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')) as { serverReachable: boolean | null; lastContact: string | null };
        const pct = (s: number) => (100 * s) / wall;
        process.stdout.write(table(
          `idle — agent enrolled and connected vs bare node, ${SECONDS} s window after ${SETTLE} s settle`,
          ['what', 'termguard agent', 'bare node', 'ratio'],
          [
            ['RSS MiB at end', num(rss.agent, 1), num(rss.bare, 1), ratio(rss.agent, rss.bare)],
            ['CPU % of one core, window', num(use.agent!, 3), num(use.bare!, 3), ratio(use.agent!, use.bare!)],
            ['CPU s in first settle (start-up)', num(startup.agent, 2), num(startup.bare, 2), ratio(startup.agent, startup.bare)],
            ['CPU % of one core incl. start-up', num(pct(total.agent), 3), num(pct(total.bare), 3), ratio(total.agent, total.bare)],
          ],
          [
            `targets: RSS ≤ ${TARGET_RSS_RATIO}x bare: ${rss.agent / rss.bare <= TARGET_RSS_RATIO ? 'met' : 'NOT met'}; ` +
              `CPU ≤ ${TARGET_CPU}% of a core: ${use.agent! <= TARGET_CPU ? 'met' : 'NOT met'}`,
            `agent status: server reachable ${String(status.serverReachable)}, last contact ${status.lastContact ?? 'never'}; ` +
              `CPU resolution ${num(100 / CLK_TCK / SECONDS, 3)}% (one clock tick over the window)`,
          ],
        ));
      } finally {
        await Promise.all([stopChild(agent), stopChild(bare)]);
      }
    } finally {
      await srv.stop();
    }
  } finally {
    removeTemp(tmp);
  }
}
