/**
 * Simulated identities: P-256 keys made here (as the real agent makes its own) and enrolled through
 * `POST /v1/enroll`, so each simulated agent has its own certificate and host row.
 */
import { Agent, request } from 'node:https';
import { generateAgentKey, makeCsr } from '../../../shared/pki.js';
import type { SimIdentity } from './agent.js';

export interface SimKey { privateKeyPem: string; publicKeyPem: string }

export function makeKeys(n: number): SimKey[] {
  return Array.from({ length: n }, () => generateAgentKey());
}

function post(url: string, ca: string, agent: Agent, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, agent, timeout: 60_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('enroll: no answer within 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Enroll each key with `token` (made for at least keys.length uses) on the console listener, `concurrency`
 * at a time; host names and machine ids are `<prefix>-<i>`.
 */
export async function enrollKeys(consoleUrl: string, ca: string, token: string, keys: SimKey[], prefix: string, concurrency = 16): Promise<SimIdentity[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca });
  const out: SimIdentity[] = new Array(keys.length);
  let next = 0;
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const i = next++;
        const k = keys[i]!;
        const name = `${prefix}-${i}`;
        const r = await post(`${consoleUrl}/v1/enroll`, ca, agent, JSON.stringify({ token, csr: makeCsr(k.privateKeyPem, k.publicKeyPem, name), hostname: name, machineId: name }));
        if (r.status !== 200) throw new Error(`enroll ${name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
        const j = JSON.parse(r.text) as { hostId: string; certificate: string };
        out[i] = { hostId: j.hostId, key: k.privateKeyPem, cert: j.certificate };
      }
    }));
  } finally {
    agent.destroy();
  }
  return out;
}
