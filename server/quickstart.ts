#!/usr/bin/env node
/**
 * `npm start`: the whole product on one machine for a first look. Initialises ./data if empty,
 * starts the server on loopback (agent 8443, console 8444), enrolls a local agent against it and
 * runs it, and prints the console URL, the one-time admin password (first run) and the CA hash.
 * The agent runs as its own process (the real `termguard-agent` command), as on a terminal.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, mkdirSync, openSync } from 'node:fs';
import { resolve, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseArgs } from 'node:util';
import { caHash } from '../shared/pki.js';
import { exists } from '../shared/fs.js';
import { initData } from './init.js';
import { dataPaths } from './config.js';
import { startServer } from './server.js';
import { createEnrollToken } from './tokens.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const agentCli = join(here, '..', 'agent', 'cli.js');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: process.env.TERMGUARD_DATA ?? 'data' },
      'agent-port': { type: 'string', default: '8443' },
      'console-port': { type: 'string', default: '8444' },
    },
  });
  const dataDir = resolve(values.data!);
  let password: string | null = null;
  if (!exists(dataPaths(dataDir).caCert)) {
    password = (await initData(dataDir, {})).adminPassword;
  }
  const log = pino({ level: process.env.TERMGUARD_LOG_LEVEL ?? 'warn' });
  const srv = await startServer({ dataDir, agentPort: Number(values['agent-port']), consolePort: Number(values['console-port']), bind: '127.0.0.1', logger: log });
  const hash = caHash(readFileSync(dataPaths(dataDir).caCert, 'utf8'));
  const consoleUrl = `https://localhost:${srv.consolePort}/`;

  const agentDir = join(dataDir, 'agent');
  mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  if (!exists(join(agentDir, 'agent.crt'))) {
    const { token } = await createEnrollToken(srv.ctx.store, { uses: 1, ttlMs: 10 * 60_000 });
    await run(process.execPath, [agentCli, 'enroll', '--server', `https://localhost:${srv.consolePort}`, '--token', token, '--ca-hash', hash, '--state', agentDir]);
  }
  const hostId = (JSON.parse(readFileSync(join(agentDir, 'state.json'), 'utf8')) as { hostId: string }).hostId;
  const agentLog = openSync(join(agentDir, 'agent.log'), 'a', 0o600);
  const agent: ChildProcess = spawn(process.execPath, [agentCli, 'run', '--state', agentDir], { stdio: ['ignore', agentLog, agentLog] });

  process.stdout.write([
    '',
    'termguard is running',
    `  console:        ${consoleUrl}`,
    password ? `  admin password: ${password}   (one-time: change it at first login)` : '  admin password: set at first run (reset with `termguard-server user reset --data data admin`)',
    `  CA hash:        ${hash}`,
    `  agent:          enrolled as host ${hostId} (log: ${join(agentDir, 'agent.log')})`,
    `  data:           ${dataDir}`,
    '',
  ].join('\n') + '\n');

  // Wait for the local agent's first heartbeat to be stored, and say so.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await srv.ctx.store.countEvents({ host: hostId, type: 'agent.heartbeat' })) > 0) {
      process.stdout.write('agent enrolled, heartbeat stored\n');
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    agent.kill('SIGTERM');
    await new Promise((r) => { agent.once('exit', r); setTimeout(r, 5000).unref(); });
    await srv.close();
    process.exit(0);
  };
  agent.on('exit', (code) => { if (!stopping) process.stderr.write(`local agent exited (${code}); see ${join(agentDir, 'agent.log')}\n`); });
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
