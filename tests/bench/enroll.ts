/**
 * Enrollment: 500 agents (keys and CSRs made beforehand, untimed) enroll through POST /v1/enroll on
 * the console listener, 16 at a time from a worker process; the baseline is full TLS handshakes per
 * second on the same listener (new connection each, GET /v1/ca). Env: BENCH_ENROLL_AGENTS (500).
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CpuWindow, profileArgs, createToken, ensureBuilt, forkWorker, initServerData, num, ratio, removeTemp, startServerProcess, table, tempDir } from './lib.js';
import type { EnrollInit, PhaseResult } from './enroll-client.js';

const AGENTS = Number(process.env.BENCH_ENROLL_AGENTS ?? 500);
const CONCURRENCY = 16;
const TARGET = 100;

export async function enrollBench(): Promise<void> {
  ensureBuilt();
  const tmp = tempDir('tg-bench-enroll-');
  try {
    const dataDir = join(tmp, 'data');
    initServerData(dataDir);
    const token = createToken(dataDir, AGENTS);
    const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
    const srv = await startServerProcess(dataDir, { nodeArgs: profileArgs('enroll') });
    const worker = forkWorker('enroll-client.ts');
    let hs: PhaseResult, en: PhaseResult, hsCpu: Record<string, number>, enCpu: Record<string, number>, hosts: number;
    try {
      const ready = worker.next('ready');
      worker.send({ type: 'init', consoleUrl: srv.consoleUrl, ca, token, n: AGENTS, concurrency: CONCURRENCY } satisfies EnrollInit);
      await ready;
      process.stdout.write(`enroll: ${AGENTS} full TLS handshakes, then ${AGENTS} enrollments, ${CONCURRENCY} at a time\n`);
      const pids = { server: [srv.proc.pid!], client: [worker.proc.pid!] };
      let cpu = new CpuWindow(pids);
      const h = worker.next<PhaseResult>('handshakes-done');
      worker.send({ type: 'handshakes', n: AGENTS });
      hs = await h;
      hsCpu = cpu.end();
      cpu = new CpuWindow(pids);
      const e = worker.next<PhaseResult>('enroll-done');
      worker.send({ type: 'enroll' });
      en = await e;
      enCpu = cpu.end();
      const db = new Database(join(dataDir, 'termguard.db'), { readonly: true, fileMustExist: true });
      hosts = db.prepare('SELECT count(*) FROM hosts').pluck().get() as number;
      db.close();
    } finally {
      await worker.stop();
      await srv.stop();
    }
    const enRate = en.ok / en.seconds;
    const hsRate = hs.ok / hs.seconds;
    process.stdout.write(table(
      `enroll — ${AGENTS} agents, ${CONCURRENCY} concurrent, console listener (RSA CA, ECDSA P-256 agent keys)`,
      ['what', 'enroll', 'TLS handshake', 'ratio'],
      [
        ['per second', num(enRate, 1), num(hsRate, 1), ratio(enRate, hsRate)],
        ['latency p50 ms', num(en.p50, 1), num(hs.p50, 1), ratio(en.p50, hs.p50)],
        ['latency p99 ms', num(en.p99, 1), num(hs.p99, 1), ratio(en.p99, hs.p99)],
        ['per server CPU-second', num(enRate / (enCpu.server! / 100), 1), num(hsRate / (hsCpu.server! / 100), 1),
          ratio(enRate / enCpu.server!, hsRate / hsCpu.server!)],
        ['server CPU, % of one core', num(enCpu.server!), num(hsCpu.server!), ''],
        ['client CPU, % of one core', num(enCpu.client!), num(hsCpu.client!), ''],
        ['other processes on the host, % of one core', num(enCpu.other!), num(hsCpu.other!), ''],
        ['errors', num(en.errors), num(hs.errors), ''],
      ],
      [
        `target ≥ ${TARGET} enrollments/s: ${enRate >= TARGET ? 'met' : 'NOT met'}; hosts in SQLite: ${hosts} of ${AGENTS}`,
        'enroll: POST /v1/enroll over 16 keep-alive connections (server work only); baseline: new connection + full handshake + GET /v1/ca each',
        ...(en.firstError ? [`enroll first error: ${en.firstError}`] : []),
        ...(hs.firstError ? [`handshake first error: ${hs.firstError}`] : []),
      ],
    ));
  } finally {
    removeTemp(tmp);
  }
}
