/**
 * `termguard-agent enroll`: fetch the CA, refuse it unless its hash matches the one the
 * administrator gave us, make our key here, send only a CSR, and store what the server issued.
 * Re-enrolling a state folder that holds a key proves that key with a signature, so the server
 * keeps the host id.
 */
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { readFileSync, lstatSync } from 'node:fs';
import { TgError } from '../../shared/errors.js';
import { writeFileAtomic, exists, readFileCapped } from '../../shared/fs.js';
import { caHash, generateAgentKey, makeCsr, signData } from '../../shared/pki.js';
import { HttpClient, errorCode } from './http.js';
import { ensureStateDir, saveState, statePaths, type AgentState } from '../state.js';
import { createPublicKey } from 'node:crypto';

export interface EnrollOptions {
  server: string;
  token: string;
  caHash: string;
  stateDir: string;
  machineId: string;
  hostname?: string;
}

export interface EnrollResult {
  hostId: string;
  agentUrl: string;
  notAfter: string;
  cloneOf?: string;
}

interface EnrollResponse {
  certificate: string; ca: string; hostId: string; agentUrl: string; renewalSecret: string; notAfter: string; cloneOf?: string;
}

/**
 * The enrollment token from a file (`--token-file`), so it never shows in a process list: a regular
 * file of at most 4 KiB, not readable by group or others (a readable token lets anyone enroll a
 * machine in the institution's name, so it is refused rather than warned about).
 */
export function readTokenFile(path: string, platform: NodeJS.Platform = process.platform): string {
  let text: string;
  try {
    // Windows has no mode bits to speak of; there the file's ACL is the administrator's business.
    if (platform !== 'win32' && (lstatSync(path).mode & 0o044) !== 0) {
      throw new TgError('TG_E_USAGE', `--token-file ${path} is readable by group or others; chmod 600 it`);
    }
    text = readFileCapped(path, 4096);
  } catch (e) {
    if (e instanceof TgError) throw e;
    throw new TgError('TG_E_USAGE', `--token-file: ${(e as Error).message}`, { cause: e });
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new TgError('TG_E_USAGE', `--token-file ${path} must hold the token alone on one line`);
  return token;
}

export async function fetchCa(server: string, expectedHash: string): Promise<string> {
  const want = expectedHash.trim().toLowerCase();
  if (!/^sha256:[0-9a-f]{64}$/.test(want)) throw new TgError('TG_E_USAGE', '--ca-hash must be sha256: followed by 64 hex digits');
  // No trust yet: the CA is fetched without verification and accepted only if its hash matches.
  const bootstrap = new HttpClient(server, { insecure: true });
  let pem: string;
  try {
    const res = await bootstrap.send('GET', '/v1/ca', { timeoutMs: 15_000 });
    if (res.status !== 200) throw new TgError('TG_E_UNREACHABLE', `GET ${server}/v1/ca answered ${res.status}`);
    pem = res.body;
  } catch (e) {
    if (e instanceof TgError) throw e;
    throw new TgError('TG_E_UNREACHABLE', `cannot reach ${server}: ${(e as Error).message}`, { cause: e });
  } finally {
    bootstrap.close();
  }
  let got: string;
  try {
    got = caHash(pem);
  } catch {
    throw new TgError('TG_E_CA_MISMATCH', `${server}/v1/ca did not return a certificate`);
  }
  if (got !== want) throw new TgError('TG_E_CA_MISMATCH', `server CA hash ${got} does not match --ca-hash ${want}; refusing to enroll`);
  return pem;
}

export async function enroll(o: EnrollOptions): Promise<EnrollResult> {
  const caPem = await fetchCa(o.server, o.caHash);
  ensureStateDir(o.stateDir);
  const p = statePaths(o.stateDir);

  // Keep an existing key: it is what proves this is the same machine (and the key never moved).
  let keyPem: string;
  let publicPem: string;
  let proof: { certificate: string; signature: string } | undefined;
  const hadKey = exists(p.key);
  if (hadKey) {
    keyPem = readFileSync(p.key, 'utf8');
    publicPem = createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
  } else {
    ({ privateKeyPem: keyPem, publicKeyPem: publicPem } = generateAgentKey());
  }
  const hostname = o.hostname ?? osHostname();
  const csr = makeCsr(keyPem, publicPem, hostname);
  if (hadKey && exists(p.cert)) {
    proof = { certificate: readFileSync(p.cert, 'utf8'), signature: signData(keyPem, createHash('sha256').update(csr).digest()) };
  }

  const client = new HttpClient(o.server, { ca: caPem });
  let body: EnrollResponse;
  try {
    const res = await client.send('POST', '/v1/enroll', {
      json: { token: o.token, csr, hostname, machineId: o.machineId, ...(proof ? { proof } : {}) }, timeoutMs: 30_000,
    });
    if (res.status !== 200) {
      const code = errorCode(res);
      const msg = (() => { try { return res.json<{ error: { message: string } }>().error.message; } catch { return res.body.slice(0, 200); } })();
      throw new TgError(code && code.startsWith('TG_E_') ? code as never : 'TG_E_INTERNAL', `enrollment refused (${res.status}): ${msg}`);
    }
    body = res.json<EnrollResponse>();
  } catch (e) {
    if (e instanceof TgError) throw e;
    throw new TgError('TG_E_UNREACHABLE', `enroll at ${o.server}: ${(e as Error).message}`, { cause: e });
  } finally {
    client.close();
  }

  // Key first (0600), then the rest; the certificate last marks the enrollment complete.
  if (!hadKey) writeFileAtomic(p.key, keyPem, 0o600);
  writeFileAtomic(p.ca, caPem, 0o644);
  writeFileAtomic(p.secret, body.renewalSecret, 0o600);
  const state: AgentState = {
    hostId: body.hostId, serverUrl: o.server, agentUrl: body.agentUrl, enrolledAt: new Date().toISOString(),
    machineId: o.machineId, policyVersion: 0, commandCursor: 0,
  };
  saveState(o.stateDir, state);
  writeFileAtomic(p.cert, body.certificate, 0o644);
  return { hostId: body.hostId, agentUrl: body.agentUrl, notAfter: body.notAfter, ...(body.cloneOf ? { cloneOf: body.cloneOf } : {}) };
}
