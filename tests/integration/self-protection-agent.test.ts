/**
 * Self-protection in the real agent runtime (issue 8, item 5): a collector made to misbehave (burns
 * CPU), added through AgentRuntime.addPart into the supervised group, is shed by the watchdog (its
 * rate drops), the server receives agent.watchdog, and the work is restored when it behaves. The
 * agent's own actions land in the hash-chained actions.log, whose head the heartbeats carry: a
 * cut-off tail no longer matches the head the server holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { AgentRuntime } from '../../agent/run.js';
import { loadAgentConfig } from '../../agent/config.js';
import { Throttle, type Sheddable } from '../../agent/shedding.js';
import type { Part } from '../../agent/supervisor.js';
import { verifyActionsLog, type ActionsHead } from '../../agent/actions-log.js';
import { startTestServer, tempDir, until, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
let t: TestServer;
beforeAll(async () => { t = await startTestServer(); });
afterAll(async () => { await t.stop(); });

class Burner implements Part, Sheddable {
  readonly name = 'test-burner';
  readonly shedOrder = 0;
  readonly pausable = true;
  private readonly throttle = new Throttle();
  rounds: number[] = [];
  bad = true;
  shed(f: number): void { this.throttle.shed(f); }
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const t0 = performance.now();
      if (this.bad) while (performance.now() - t0 < 40) { /* misbehave */ }
      this.rounds.push(Date.now());
      await this.throttle.wait(10, signal);
    }
  }
  rate(from: number, to: number): number {
    return this.rounds.filter((r) => r >= from && r < to).length / ((to - from) / 1000);
  }
}

describe('agent self-protection', () => {
  it('sheds a misbehaving collector, reports it, restores it; logs its actions in a chain the server can check', async () => {
    const state = tempDir('tg-selfprot-');
    await exec(process.execPath, ['dist/agent/cli.js', 'enroll', '--server', t.srv.consoleUrl, '--token', await t.token(), '--ca-hash', t.caHash, '--state', state],
      { env: { ...process.env, TERMGUARD_MACHINEID: 'self-protection-test' } });
    const hostId = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')).hostId as string;
    const cfg = loadAgentConfig(undefined, {
      TERMGUARD_INTERVALS_HEARTBEAT: '1', TERMGUARD_INTERVALS_STATUS: '1',
      TERMGUARD_WATCHDOG_MAXCPUPERCENT: '25', TERMGUARD_WATCHDOG_SAMPLESECONDS: '0.1', TERMGUARD_WATCHDOG_SUSTAINEDSECONDS: '0.3',
      TERMGUARD_WATCHDOG_RESTORESECONDS: '1.5', TERMGUARD_WATCHDOG_STRETCH: '20', TERMGUARD_WATCHDOG_MAXRSSMB: '4096',
    });
    const rt = await AgentRuntime.open(state, cfg, pino({ level: 'silent' }));
    const burner = new Burner();
    rt.addPart(burner);
    const stop = new AbortController();
    const running = rt.run(stop.signal);
    const store = t.srv.ctx.store;
    try {
      const shed = await until('agent.watchdog shed', async () => (await store.queryEvents({ host: hostId, type: 'agent.watchdog' })).find((e) => e.data.action === 'shed'), 20_000);
      expect(shed).toMatchObject({ severity: 'medium', articles: ['art31'], data: { resource: 'cpu', budget: 25 } });
      expect((shed.data.shed as { part: string }[])[0]).toEqual({ part: 'test-burner', factor: 20 });
      const shedAt = Date.parse(shed.time);
      await new Promise((r) => setTimeout(r, 800));
      expect(burner.rate(shedAt + 50, Date.now())).toBeLessThan(burner.rate(burner.rounds[0]!, shedAt) / 2);
      burner.bad = false;
      await until('agent.watchdog restored', async () => (await store.queryEvents({ host: hostId, type: 'agent.watchdog' })).find((e) => e.data.action === 'restored'), 20_000);
      const hb = await until('heartbeat with the log head', async () => (await store.queryEvents({ host: hostId, type: 'agent.heartbeat', latest: true, limit: 1 }))
        .find((e) => (e.data.actionsLog as ActionsHead | null)?.seq! >= 3));
      expect(hb.data.intervalSeconds).toBe(1);
    } finally {
      stop.abort();
      await running;
    }
    const stopped = (await store.queryEvents({ host: hostId, type: 'agent.stopped' }))[0];
    expect(stopped?.data).toMatchObject({ reason: 'stopped', cause: 'requested' });

    const path = join(state, 'actions.log');
    const check = verifyActionsLog(path);
    expect(check.ok).toBe(true);
    const actions = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).action as string);
    expect(actions[0]).toBe('agent.started');
    expect(actions).toContain('agent.watchdog');
    expect(actions.at(-1)).toBe('agent.stopped');
    // What the server holds: the head of the last heartbeat. Cut the tail off: the chain alone still
    // verifies, but not against that head.
    const known = (await store.queryEvents({ host: hostId, type: 'agent.heartbeat', latest: true, limit: 1 }))[0]!.data.actionsLog as ActionsHead;
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    writeFileSync(path, lines.slice(0, known.seq - 1).join('\n') + '\n');
    expect(verifyActionsLog(path).ok).toBe(true);
    expect(verifyActionsLog(path, known)).toMatchObject({ ok: false, firstBadSeq: known.seq - 1 + 1 });
    const st = JSON.parse((await exec(process.execPath, ['dist/agent/cli.js', 'status', '--state', state, '--json'])).stdout);
    expect(st.actionsLog).toMatchObject({ entries: known.seq - 1, ok: true });
  }, 60_000);
});
