/**
 * Enrollment from the installer's file (DESIGN: enroll.json `{"server","token","caHash"}`), for
 * installers that cannot run the agent themselves (the Windows MSI writes the file; the service
 * enrolls at its first start). The file is read, used once and deleted, as Fleet's orbit does.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFileCapped } from '../shared/fs.js';
import { TgError } from '../shared/errors.js';
import { statePaths } from './state.js';
import { enroll, type EnrollResult } from './transport/enroll.js';
import { readMachineId } from './transport/machine-id.js';

export interface EnrollFile { server: string; token: string; caHash: string }

/** `<state>/enroll.json` unless TERMGUARD_ENROLL_FILE names another file. */
export function enrollFilePath(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.TERMGUARD_ENROLL_FILE || join(stateDir, 'enroll.json');
}

/** Parse and check enroll.json: an https server, a URL-safe token, a sha256: CA hash. */
export function parseEnrollFile(text: string, path: string): EnrollFile {
  let v: unknown;
  try {
    v = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new TgError('TG_E_USAGE', `${path}: not JSON`, { cause: e });
  }
  const o = (v ?? {}) as Record<string, unknown>;
  const server = typeof o.server === 'string' ? o.server.trim() : '';
  const token = typeof o.token === 'string' ? o.token.trim() : '';
  const caHash = typeof o.caHash === 'string' ? o.caHash.trim() : '';
  let url: URL | null = null;
  try { url = new URL(server); } catch { /* refused below */ }
  if (!url || url.protocol !== 'https:' || !/^[A-Za-z0-9_.~-]+$/.test(token) || !/^sha256:[0-9a-fA-F]{64}$/.test(caHash)) {
    throw new TgError('TG_E_USAGE', `${path} needs {"server":"https://…","token":"…","caHash":"sha256:…"}`);
  }
  return { server: url.origin, token, caHash: caHash.toLowerCase() };
}

/** Overwrite then delete: the token should not linger on disk. */
function removeTokenFile(path: string): void {
  try { writeFileSync(path, '\0'.repeat(64)); } catch { /* deleted below anyway */ }
  rmSync(path, { force: true });
}

/**
 * Enroll from the file when it exists and this machine is not enrolled yet, then delete it.
 * Returns null when there was nothing to do. When enrollment fails the file is kept for the next
 * start (a service restart retries) and the error is thrown.
 */
export async function enrollFromFile(stateDir: string, machineIdOverride?: string, env: NodeJS.ProcessEnv = process.env): Promise<EnrollResult | null> {
  const path = enrollFilePath(stateDir, env);
  if (!existsSync(path)) return null;
  if (existsSync(statePaths(stateDir).cert) && existsSync(statePaths(stateDir).state)) {
    removeTokenFile(path); // Already enrolled (e.g. an upgrade passed the properties again): keep the identity.
    return null;
  }
  const f = parseEnrollFile(readFileCapped(path, 4096).toString(), path);
  const machineId = machineIdOverride ?? readMachineId();
  if (!machineId) throw new TgError('TG_E_CONFIG', 'cannot read this machine\'s id; set "machineId" in the config');
  const r = await enroll({ server: f.server, token: f.token, caHash: f.caHash, stateDir, machineId });
  removeTokenFile(path);
  return r;
}
