/** `termguard-server init`: institution CA, server certificate, config, store, first admin. */
import { chmodSync } from 'node:fs';
import { TgError } from '../shared/errors.js';
import { ensureDir, exists, writeFileAtomic } from '../shared/fs.js';
import { caHash } from '../shared/pki.js';
import { createCa, issueServerCert } from './pki/ca.js';
import { dataPaths, saveConfig, checkRetention, ServerConfigSchema, type ServerConfig } from './config.js';
import { openStore } from './store/index.js';
import { hashPassword, newSecret } from './auth/secrets.js';

export interface InitResult {
  caHash: string;
  adminPassword: string;
  config: ServerConfig;
}

export async function initData(dir: string, opts: { hosts?: string[]; storeUrl?: string; retentionDays?: number; institution?: string }): Promise<InitResult> {
  const p = dataPaths(dir);
  if (exists(p.caCert) || exists(p.caKey)) throw new TgError('TG_E_CA_EXISTS', `a CA already exists in ${dir}; refusing to overwrite it`);
  if (opts.retentionDays !== undefined) checkRetention(opts.retentionDays);
  ensureDir(dir, 0o700);
  chmodSync(dir, 0o700);
  const hosts = opts.hosts?.length ? opts.hosts : ['localhost', '127.0.0.1'];
  const config = ServerConfigSchema.parse({ hosts, ...(opts.retentionDays ? { retentionDays: opts.retentionDays } : {}) });

  const ca = createCa({ commonName: `${opts.institution ?? 'termguard'} institution CA` });
  const server = issueServerCert(ca, hosts);
  // Key first, certificate last: a half-finished init leaves no ca.crt and can be rerun.
  writeFileAtomic(p.caKey, ca.keyPem, 0o600);
  writeFileAtomic(p.serverKey, server.keyPem, 0o600);
  writeFileAtomic(p.serverCert, server.certPem, 0o644);
  saveConfig(dir, config);

  const store = await openStore(dir, opts.storeUrl);
  const adminPassword = newSecret(12);
  try {
    if (!(await store.getUser('admin'))) {
      await store.createUser({ name: 'admin', passwordHash: hashPassword(adminPassword), role: 'admin', mustChange: true, disabled: false });
    }
  } finally {
    await store.close();
  }
  writeFileAtomic(p.caCert, ca.certPem, 0o644);
  return { caHash: caHash(ca.certPem), adminPassword, config };
}
