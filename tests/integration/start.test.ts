/**
 * `npm start` as a new user runs it: server plus a local agent, up to "agent enrolled, heartbeat
 * stored", checked with the real `termguard-server hosts --json` and `events --json`.
 */
import { describe, it, expect } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { tempDir } from '../helpers/server.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('npm start', () => {
  it('initialises data, starts the server, enrolls a local agent and stores its heartbeat', async () => {
    const data = tempDir('tg-start-');
    const [agentPort, consolePort] = [await freePort(), await freePort()];
    const child = spawn('npm', ['start', '--silent', '--', '--data', data, '--agent-port', String(agentPort), '--console-port', String(consolePort)], {
      stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no heartbeat line within 60 s:\n${out}`)), 60_000);
        const check = () => { if (out.includes('agent enrolled, heartbeat stored')) { clearTimeout(timer); resolve(); } };
        child.stdout.on('data', check);
        child.once('exit', (code) => reject(new Error(`npm start exited ${code}:\n${out}`)));
      });
      expect(out).toMatch(new RegExp(`console: +https://localhost:${consolePort}/`));
      expect(out).toMatch(/admin password: \S{12,}/);
      expect(out).toMatch(/CA hash: +sha256:[0-9a-f]{64}/);
      const hosts = execFileSync(process.execPath, ['dist/server/cli.js', 'hosts', '--data', data, '--json'], { encoding: 'utf8' })
        .trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string; lastSeen: string | null });
      expect(hosts).toHaveLength(1);
      expect(hosts[0]!.status).toBe('active');
      expect(hosts[0]!.lastSeen).not.toBeNull();
      const beats = execFileSync(process.execPath, ['dist/server/cli.js', 'events', '--data', data, '--json', '--host', hosts[0]!.id, '--type', 'agent.heartbeat'], { encoding: 'utf8' })
        .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { host: string; type: string });
      expect(beats.length).toBeGreaterThanOrEqual(1);
      expect(beats[0]!.host).toBe(hosts[0]!.id);
    } finally {
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
      await new Promise((r) => { child.once('exit', r); setTimeout(r, 8000); });
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      rmSync(data, { recursive: true, force: true });
    }
  });
});
