/**
 * Enrollment load generator (a forked worker): keys and CSRs are made at init, untimed; then
 * `handshakes` (new TLS connection per GET /v1/ca) and `enroll` (POST /v1/enroll over keep-alive).
 */
import { Agent } from 'node:https';
import { performance } from 'node:perf_hooks';
import { generateAgentKey, makeCsr } from '../../shared/pki.js';
import { httpsRequest, percentile, pool, reply, replyLast, type WorkerMessage } from './lib.js';

export interface EnrollInit extends WorkerMessage { type: 'init'; consoleUrl: string; ca: string; token: string; n: number; concurrency: number }
export interface PhaseResult extends WorkerMessage { seconds: number; ok: number; errors: number; firstError: string | null; p50: number; p99: number }

let init: EnrollInit;
let csrs: string[] = [];

async function timed(n: number, one: (i: number) => Promise<void>): Promise<Omit<PhaseResult, 'type'>> {
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const t0 = performance.now();
  await pool(Array.from({ length: n }, (_, i) => i), init.concurrency, async (i) => {
    const s = performance.now();
    try {
      await one(i);
      lat.push(performance.now() - s);
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { seconds, ok: lat.length, errors, firstError, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

process.on('message', (m: WorkerMessage) => {
  void (async () => {
    if (m.type === 'init') {
      init = m as EnrollInit;
      csrs = Array.from({ length: init.n }, (_, i) => {
        const k = generateAgentKey();
        return makeCsr(k.privateKeyPem, k.publicKeyPem, `bench-enroll-${i}`);
      });
      reply({ type: 'ready' });
    } else if (m.type === 'handshakes') {
      // agent:false: a fresh connection and a full handshake (no session reuse) every time.
      const r = await timed(Number(m.n), async () => {
        const res = await httpsRequest(`${init.consoleUrl}/v1/ca`, { ca: init.ca, agent: false });
        if (res.status !== 200) throw new Error(`GET /v1/ca: ${res.status}`);
      });
      reply({ type: 'handshakes-done', ...r });
    } else if (m.type === 'enroll') {
      const agent = new Agent({ keepAlive: true, maxSockets: init.concurrency, ca: init.ca });
      const r = await timed(init.n, async (i) => {
        const res = await httpsRequest(`${init.consoleUrl}/v1/enroll`, {
          method: 'POST', ca: init.ca, agent,
          body: JSON.stringify({ token: init.token, csr: csrs[i], hostname: `bench-enroll-${i}`, machineId: `bench-enroll-${process.pid}-${i}` }),
        });
        if (res.status !== 200) throw new Error(`POST /v1/enroll: ${res.status} ${res.text.slice(0, 300)}`);
      });
      agent.destroy();
      replyLast({ type: 'enroll-done', ...r });
    }
  })();
});
