#!/usr/bin/env node
/** termguard-server: thin command layer over server/ (contract in DESIGN.md). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { VERSION } from '../shared/version.js';
import { action } from '../shared/cli.js';
import { TgError } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';
import { checkPolicy } from '../shared/policy.js';
import { caHash } from '../shared/pki.js';
import { initData } from './init.js';
import { openStore } from './store/index.js';
import { loadConfig, dataPaths, consoleUrl } from './config.js';
import { createEnrollToken } from './tokens.js';
import { startServer } from './server.js';
import type { Store } from './store/types.js';
import { ROLES } from './auth/roles.js';
import { writeFileAtomic } from '../shared/fs.js';

const program = new Command('termguard-server')
  .description('termguard management server: PKI, agent API (mutual TLS), store and console')
  .version(VERSION, '--version')
  .helpOption('-h, --help')
  .showHelpAfterError();

const dataOpt = () => new Option('--data <dir>', 'data directory (CA, keys, config, SQLite file)').env('TERMGUARD_DATA').makeOptionMandatory();
const storeOpt = () => new Option('--store <url>', 'store URL (postgres://…); default SQLite in the data directory').env('TERMGUARD_STORE');

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TgError('TG_E_USAGE', `not a port: ${v}`);
  return n;
}

async function withStore<T>(o: { data: string; store?: string }, fn: (s: Store) => Promise<T>): Promise<T> {
  loadConfig(o.data);
  const store = await openStore(o.data, o.store);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

program.command('init')
  .description('create the institution CA, the server certificate, the store and user "admin"')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--host <name>', 'server name or address for its certificate (repeatable; default localhost, 127.0.0.1)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--retention-days <n>', 'days of events kept (at least 184, art19)', (v) => Number(v))
  .action(action(async (o: { data: string; store?: string; host: string[]; retentionDays?: number }) => {
    const r = await initData(resolve(o.data), { hosts: o.host, storeUrl: o.store, retentionDays: o.retentionDays });
    process.stdout.write(`initialised ${resolve(o.data)}\nCA hash: ${r.caHash}\nadmin password: ${r.adminPassword}\n` +
      `(one-time: it must be changed at first login)\n`);
  }));

program.command('start')
  .description('run the agent listener (mutual TLS) and the console listener')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--agent-port <port>', 'agent listener port (default 8443)', port)
  .option('--console-port <port>', 'console listener port (default 8444)', port)
  .option('--bind <addr>', 'address to listen on (default 127.0.0.1)')
  .action(action(async (o: { data: string; store?: string; agentPort?: number; consolePort?: number; bind?: string }) => {
    const s = await startServer({ dataDir: resolve(o.data), storeUrl: o.store, agentPort: o.agentPort, consolePort: o.consolePort, bind: o.bind });
    s.ctx.log.info({ agentUrl: s.agentUrl, consoleUrl: s.consoleUrl }, 'termguard server listening');
    process.stdout.write(`agent listener ${s.agentUrl}\nconsole ${s.consoleUrl}\n`);
    const stop = () => void s.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }));

const token = program.command('token').description('enrollment tokens');
token.command('create')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--uses <n>', 'how many enrollments it allows', (v) => Number(v), 1)
  .option('--ttl <duration>', 'how long it is valid (e.g. 24h, 7d)', '24h')
  .action(action(async (o: { data: string; store?: string; uses: number; ttl: string }) => {
    const data = resolve(o.data);
    const cfg = loadConfig(data);
    const t = await withStore(o, (s) => createEnrollToken(s, { uses: o.uses, ttlMs: parseDuration(o.ttl) }));
    const hash = caHash(readFileSync(dataPaths(data).caCert, 'utf8'));
    process.stdout.write(`token id: ${t.id}\ntoken: ${t.token}\nexpires: ${t.expiresAt}\n` +
      `termguard-agent enroll --server ${consoleUrl(cfg)} --token ${t.token} --ca-hash ${hash}\n`);
  }));
token.command('list')
  .addOption(dataOpt()).addOption(storeOpt())
  .action(action(async (o: { data: string; store?: string }) => {
    const rows = await withStore(o, (s) => s.listTokens());
    const now = Date.now();
    for (const t of rows) {
      const state = t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now ? 'expired' : t.usesLeft <= 0 ? 'used' : 'active';
      process.stdout.write(JSON.stringify({ id: t.id, state, usesLeft: t.usesLeft, usesTotal: t.usesTotal, expiresAt: t.expiresAt, createdAt: t.createdAt }) + '\n');
    }
  }));
token.command('revoke')
  .argument('<token-id>')
  .addOption(dataOpt()).addOption(storeOpt())
  .action(action(async (id: string, o: { data: string; store?: string }) => {
    if (!(await withStore(o, (s) => s.revokeToken(id)))) throw new TgError('TG_E_NOT_FOUND', `no active token with id ${id}`);
    process.stdout.write(`token ${id} revoked\n`);
  }));

const policy = program.command('policy').description('policies');
policy.command('check')
  .description('validate a policy file only; exit 1 with the first error')
  .argument('<file>')
  .action(action(async (file: string) => {
    readPolicyFile(file);
    process.stdout.write(`${file}: valid policy\n`);
  }));
policy.command('set')
  .argument('<file>')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--group <name>', 'host group', 'default')
  .action(action(async (file: string, o: { data: string; store?: string; group: string }) => {
    const p = readPolicyFile(file);
    const row = await withStore(o, (s) => s.setPolicy(o.group, p as Record<string, unknown>));
    process.stdout.write(`policy for group ${row.group} is now version ${row.version}\n`);
  }));
policy.command('get')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--group <name>', 'host group', 'default')
  .action(action(async (o: { data: string; store?: string; group: string }) => {
    const { DEFAULT_POLICY, PolicySchema } = await import('../shared/policy.js');
    const row = await withStore(o, (s) => s.getPolicy(o.group));
    const out = row ? { version: row.version, group: row.group, policy: PolicySchema.parse(row.policy) } : { version: 0, group: o.group, policy: DEFAULT_POLICY };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  }));

function readPolicyFile(file: string): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TgError('TG_E_POLICY_INVALID', `${file}: ${(e as Error).message}`);
  }
  const r = checkPolicy(raw);
  if (!r.ok) throw new TgError('TG_E_POLICY_INVALID', `${file}: ${r.error}`);
  return r.policy;
}

program.command('hosts')
  .description('list enrolled hosts')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--json', 'one JSON object per line')
  .action(action(async (o: { data: string; store?: string; json?: boolean }) => {
    const rows = await withStore(o, (s) => s.listHosts());
    for (const h of rows) {
      process.stdout.write(o.json ? JSON.stringify(h) + '\n' : `${h.id}  ${h.hostname}  ${h.status}  last seen ${h.lastSeen ?? 'never'}\n`);
    }
  }));

program.command('events')
  .description('list stored events, oldest first by arrival')
  .addOption(dataOpt()).addOption(storeOpt())
  .option('--json', 'one event per line')
  .option('--host <id>', 'only this host')
  .option('--type <type>', 'only this type')
  .option('--since <iso>', 'only events at or after this time')
  .action(action(async (o: { data: string; store?: string; json?: boolean; host?: string; type?: string; since?: string }) => {
    if (o.since !== undefined && Number.isNaN(Date.parse(o.since))) throw new TgError('TG_E_USAGE', `--since: not an ISO 8601 time: ${o.since}`);
    const since = o.since ? new Date(o.since).toISOString() : undefined;
    await withStore(o, async (s) => {
      let after: { receivedAt: string; id: string } | undefined;
      for (;;) {
        const page = await s.queryEvents({ host: o.host, type: o.type, since, after, limit: 5000 });
        for (const e of page) process.stdout.write(o.json ? JSON.stringify(e) + '\n' : `${e.time} ${e.host} ${e.severity} ${e.type}\n`);
        if (page.length < 5000) break;
        const last = page[page.length - 1]!;
        after = { receivedAt: last.receivedAt, id: last.id };
      }
    });
  }));

program.command('host')
  .description('host administration')
  .command('revoke')
  .argument('<host-id>')
  .addOption(dataOpt()).addOption(storeOpt())
  .action(action(async (id: string, o: { data: string; store?: string }) => {
    const ok = await withStore(o, async (s) => {
      if (!(await s.getHost(id))) throw new TgError('TG_E_NOT_FOUND', `no host ${id}`);
      return s.revokeHost(id, new Date().toISOString());
    });
    process.stdout.write(ok ? `host ${id} revoked; its connections close within seconds\n` : `host ${id} was already revoked\n`);
  }));

const user = program.command('user').description('console users (passwords are stored as scrypt hashes)');
user.command('add')
  .argument('<name>')
  .addOption(dataOpt()).addOption(storeOpt())
  .addOption(new Option('--role <role>', 'role').choices(ROLES).default('analyst'))
  .action(action(async (name: string, o: { data: string; store?: string; role: string }) => {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new TgError('TG_E_USAGE', 'user names are 1-64 letters, digits, dot, dash or underscore');
    const { hashPassword, newSecret } = await import('./auth/secrets.js');
    const password = newSecret(12);
    await withStore(o, async (s) => {
      if (await s.getUser(name)) throw new TgError('TG_E_USAGE', `user ${name} already exists`);
      await s.createUser({ name, passwordHash: hashPassword(password), role: o.role, mustChange: true, disabled: false });
    });
    process.stdout.write(`user ${name} added with role ${o.role}\npassword: ${password}\n(one-time: it must be changed at first login)\n`);
  }));
user.command('disable')
  .argument('<name>')
  .addOption(dataOpt()).addOption(storeOpt())
  .action(action(async (name: string, o: { data: string; store?: string }) => {
    if (!(await withStore(o, (s) => s.updateUser(name, { disabled: true })))) throw new TgError('TG_E_NOT_FOUND', `no user ${name}`);
    process.stdout.write(`user ${name} disabled\n`);
  }));
user.command('reset')
  .argument('<name>')
  .addOption(dataOpt()).addOption(storeOpt())
  .action(action(async (name: string, o: { data: string; store?: string }) => {
    const { hashPassword, newSecret } = await import('./auth/secrets.js');
    const password = newSecret(12);
    if (!(await withStore(o, (s) => s.updateUser(name, { passwordHash: hashPassword(password), mustChange: true, disabled: false })))) {
      throw new TgError('TG_E_NOT_FOUND', `no user ${name}`);
    }
    process.stdout.write(`password of ${name} reset\npassword: ${password}\n(one-time: it must be changed at first login)\n`);
  }));

const usb = program.command('usb').description('removable media control');
usb.command('exception')
  .description('grant one device on one host a temporary, signed exception (who approved it and why)')
  .addOption(dataOpt()).addOption(storeOpt())
  .requiredOption('--host <id>', 'host id')
  .requiredOption('--device <vid:pid>', 'vendor and product id, e.g. 0781:5567')
  .requiredOption('--serial <serial>', 'the device serial')
  .requiredOption('--by <name>', 'who approved it')
  .requiredOption('--reason <text>', 'why')
  .option('--ttl <duration>', 'how long (at most 30d)', '8h')
  .action(action(async (o: { data: string; store?: string; host: string; device: string; serial: string; by: string; reason: string; ttl: string }) => {
    const [vendorId = '', productId = ''] = o.device.split(':');
    const { grantUsbException } = await import('./usb-exceptions.js');
    const caKey = readFileSync(dataPaths(resolve(o.data)).caKey, 'utf8');
    const g = await withStore(o, (s) => grantUsbException(s, caKey, {
      hostId: o.host, vendorId, productId, serial: o.serial, ttlMs: parseDuration(o.ttl), approvedBy: o.by, reason: o.reason,
    }));
    process.stdout.write(`exception ${g.exception.id} granted to host ${g.exception.hostId} for ${o.device} serial ${o.serial} until ${g.exception.notAfter}\n`);
  }));

const report = program.command('report').description('reports (art23)');
report.command('monthly')
  .description('the monthly information security report: fleet, compliance, violations by type and article, coverage gaps, drills')
  .addOption(dataOpt()).addOption(storeOpt())
  .requiredOption('--month <YYYY-MM>', 'the month')
  .addOption(new Option('--format <format>', 'output format').choices(['html', 'csv', 'json']).default('html'))
  .option('--out <file>', 'write here (default: standard output)')
  .action(action(async (o: { data: string; store?: string; month: string; format: 'html' | 'csv' | 'json'; out?: string }) => {
    const { validateMonth, renderMonthlyHtml, renderMonthlyCsv, monthlyJson } = await import('./reports/monthly.js');
    const { buildMonthlyData } = await import('./reports/monthly-data.js');
    if (!validateMonth(o.month)) throw new TgError('TG_E_USAGE', `--month: expected YYYY-MM, not ${o.month}`);
    const config = loadConfig(resolve(o.data));
    const data = await withStore(o, (store) => buildMonthlyData({ store, config }, o.month));
    const text = o.format === 'html' ? renderMonthlyHtml(data) : o.format === 'csv' ? renderMonthlyCsv(data) : monthlyJson(data);
    if (o.out) writeFileAtomic(resolve(o.out), text, 0o640);
    else process.stdout.write(text);
  }));

function passphrase(o: { passphraseFile?: string }): string {
  const p = o.passphraseFile ? readFileSync(resolve(o.passphraseFile), 'utf8').replace(/\r?\n$/, '') : process.env.TERMGUARD_BACKUP_PASSPHRASE;
  if (!p) throw new TgError('TG_E_USAGE', 'a passphrase is required (--passphrase-file FILE or TERMGUARD_BACKUP_PASSPHRASE): the backup holds the CA key');
  return p;
}

program.command('backup')
  .description('online, consistent, encrypted backup of the data directory and store (CA key included)')
  .addOption(dataOpt()).addOption(storeOpt())
  .requiredOption('--out <file>', 'backup file to write')
  .option('--passphrase-file <file>', 'file holding the passphrase (else TERMGUARD_BACKUP_PASSPHRASE)')
  .action(action(async (o: { data: string; store?: string; out: string; passphraseFile?: string }) => {
    const { backup } = await import('./backup.js');
    const r = await backup({ dataDir: resolve(o.data), storeUrl: o.store, out: resolve(o.out), passphrase: passphrase(o) });
    process.stdout.write(`backup written to ${resolve(o.out)} (${r.bytes} bytes): ${r.files.map((f) => f.name).join(', ')}\n`);
  }));

program.command('restore')
  .description('restore a backup into a data directory (stop the server first)')
  .addOption(dataOpt()).addOption(storeOpt())
  .argument('<file>')
  .option('--passphrase-file <file>', 'file holding the passphrase (else TERMGUARD_BACKUP_PASSPHRASE)')
  .option('--force', 'replace the contents of a data directory that is not empty')
  .action(action(async (file: string, o: { data: string; store?: string; passphraseFile?: string; force?: boolean }) => {
    const { restore } = await import('./backup.js');
    const r = await restore({ dataDir: resolve(o.data), file: resolve(file), passphrase: passphrase(o), storeUrl: o.store, force: o.force });
    process.stdout.write(`restored ${r.files.join(', ')} into ${resolve(o.data)}\n`);
  }));

const attest = program.command('attest').description('hardening attestations (art11)');
attest.command('verify')
  .description('verify an attestation file offline against the institution CA; exit 1 with the reasons if invalid')
  .argument('<file>')
  .requiredOption('--ca <ca.pem>', 'the institution CA certificate')
  .option('--html <out.html>', 'also write a printable bilingual rendering')
  .action(action(async (file: string, o: { ca: string; html?: string }) => {
    const { verifyAttestation } = await import('../shared/attestation.js');
    let input: unknown;
    try {
      input = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new TgError('TG_E_BAD_JSON', `${file}: ${(e as Error).message}`);
    }
    const caPem = readFileSync(o.ca, 'utf8');
    const r = verifyAttestation(input, caPem);
    if (o.html && typeof input === 'object' && input && 'body' in input) {
      const { renderAttestationHtml } = await import('./reports/attestation.js');
      const { writeFileAtomic } = await import('../shared/fs.js');
      writeFileAtomic(o.html, renderAttestationHtml((input as { body: never }).body, { ...r, caHash: caHash(caPem) }), 0o644);
    }
    if (!r.ok) {
      process.stderr.write(`error: attestation invalid: ${r.problems.join('; ')}\n`);
      process.exit(1);
    }
    const b = r.body;
    process.stdout.write(`valid: host ${b.hostId} (${b.hostname}) at ${b.time}, policy v${b.policyVersion}, ` +
      `${b.summary.pass} pass, ${b.summary.fail} fail, ${b.summary.not_applicable} n/a, ${b.summary.error} error\n`);
  }));

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});

