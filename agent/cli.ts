#!/usr/bin/env node
/** termguard-agent: thin command layer over agent/ (contract in DESIGN.md). */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import pino from 'pino';
import { VERSION } from '../shared/version.js';
import { action } from '../shared/cli.js';
import { TgError } from '../shared/errors.js';
import { certInfo } from '../shared/pki.js';
import { exists } from '../shared/fs.js';
import { readFileSync } from 'node:fs';
import { loadAgentConfig } from './config.js';
import { defaultStateDir, loadState, statePaths } from './state.js';
import { enroll, readTokenFile } from './transport/enroll.js';
import { readMachineId } from './transport/machine-id.js';
import { AgentClient } from './transport/client.js';
import { AgentRuntime, readStatusFile } from './run.js';
import { WATCHDOG_EXIT_CODE, WatchdogTripped } from './watchdog.js';
import { verifyActionsLog } from './actions-log.js';
import { enrollFromFile } from './enroll-file.js';

const program = new Command('termguard-agent')
  .description('termguard endpoint agent: host monitoring, removable media and outbound connection control (art31)')
  .version(VERSION, '--version')
  .showHelpAfterError();

const stateOpt = () => new Option('--state <dir>', `state folder (default ${defaultStateDir()})`).env('TERMGUARD_STATE').default(defaultStateDir());
const configOpt = () => new Option('--config <file>', 'agent config (JSON); TERMGUARD_* variables override it').env('TERMGUARD_CONFIG');

program.command('enroll')
  .description('enroll this machine with the institution server (the key is made here and never leaves)')
  .requiredOption('--server <url>', 'console listener, e.g. https://tg.example:8444')
  .addOption(new Option('--token <token>', 'enrollment token from `termguard-server token create`').env('TERMGUARD_TOKEN'))
  .option('--token-file <file>', 'read the token from this file instead (mode 0600; keeps it out of process lists)')
  .requiredOption('--ca-hash <sha256:hex>', 'hash of the institution CA, from `termguard-server init`')
  .addOption(stateOpt()).addOption(configOpt())
  .action(action(async (o: { server: string; token?: string; tokenFile?: string; caHash: string; state: string; config?: string }) => {
    // Exactly one source, refused at start-up otherwise (a stray TERMGUARD_TOKEN must not win silently).
    if (o.token && o.tokenFile) throw new TgError('TG_E_USAGE', 'give the token once: --token (or TERMGUARD_TOKEN) or --token-file');
    if (!o.token && !o.tokenFile) throw new TgError('TG_E_USAGE', 'a token is needed: --token, --token-file or TERMGUARD_TOKEN');
    const token = o.tokenFile ? readTokenFile(o.tokenFile) : o.token!;
    const cfg = loadAgentConfig(o.config);
    let server: URL;
    try {
      server = new URL(o.server);
    } catch {
      throw new TgError('TG_E_USAGE', `--server: not a URL: ${o.server}`);
    }
    if (server.protocol !== 'https:') throw new TgError('TG_E_USAGE', '--server must be an https:// URL');
    const machineId = cfg.machineId ?? readMachineId();
    if (!machineId) throw new TgError('TG_E_CONFIG', 'cannot read this machine\'s id; set "machineId" in the config');
    const r = await enroll({ server: server.origin, token, caHash: o.caHash, stateDir: resolve(o.state), machineId });
    process.stdout.write(`enrolled as host ${r.hostId}\nagent listener ${r.agentUrl}\ncertificate valid until ${r.notAfter}\n` +
      (r.cloneOf ? `warning: the server flagged this machine as a clone of host ${r.cloneOf}\n` : ''));
  }));

program.command('run')
  .description('run the agent until stopped (SIGTERM/SIGINT)')
  .addOption(stateOpt()).addOption(configOpt())
  .action(action(async (o: { state: string; config?: string }) => {
    const cfg = loadAgentConfig(o.config);
    const log = pino({ level: cfg.logLevel, base: { pid: process.pid, name: 'termguard-agent' } });
    // Installers without a post-install step of their own (the MSI) leave <state>/enroll.json: enroll
    // from it before the first start; a failure throws and the service manager retries.
    const fromFile = await enrollFromFile(resolve(o.state), cfg.machineId);
    if (fromFile) log.info({ hostId: fromFile.hostId }, 'enrolled from enroll.json');
    const rt = await AgentRuntime.open(resolve(o.state), cfg, log);
    const stop = new AbortController();
    process.once('SIGTERM', () => stop.abort({ signal: 'SIGTERM' }));
    process.once('SIGINT', () => stop.abort({ signal: 'SIGINT' }));
    log.info({ hostId: rt.state.hostId, agentUrl: rt.state.agentUrl }, 'agent running');
    try {
      await rt.run(stop.signal);
    } catch (e) {
      if (!(e instanceof WatchdogTripped)) throw e;
      // Its own exit code, so the service manager (Restart=always) and the logs tell it from a crash.
      log.fatal({ exitCode: WATCHDOG_EXIT_CODE }, 'agent stopped by its watchdog; exiting for a restart');
      process.stderr.write(`error: watchdog: ${e.message}\n`);
      process.exit(WATCHDOG_EXIT_CODE);
    }
    log.info('agent stopped');
  }));

program.command('status')
  .description('enrollment, server reachability, policy version, spool depth')
  .addOption(stateOpt()).addOption(configOpt())
  .option('--json', 'one JSON object')
  .action(action(async (o: { state: string; config?: string; json?: boolean }) => {
    const dir = resolve(o.state);
    const p = statePaths(dir);
    if (!exists(p.state) || !exists(p.cert)) {
      const out = { enrolled: false, stateDir: dir };
      process.stdout.write(o.json ? JSON.stringify(out) + '\n' : `not enrolled (state folder ${dir})\n`);
      return;
    }
    const st = loadState(dir);
    const cert = certInfo(readFileSync(p.cert, 'utf8'));
    const running = readStatusFile(dir);
    let reachable = false;
    let error: string | null = null;
    const client = new AgentClient(dir, () => st);
    try {
      await client.getPolicy(AbortSignal.timeout(5000));
      reachable = true;
    } catch (e) {
      error = (e as Error).message;
    } finally {
      client.close();
    }
    const out = {
      enrolled: true, stateDir: dir, hostId: st.hostId, serverUrl: st.serverUrl, agentUrl: st.agentUrl,
      certificate: { serial: cert.serial, notAfter: cert.notAfter.toISOString(), expired: cert.notAfter.getTime() < Date.now() },
      server: { reachable, error },
      policyVersion: st.policyVersion,
      agent: running ? { pid: running.pid, updatedAt: running.updatedAt, lastContact: running.lastContact } : null,
      spool: running?.spool ?? null,
      actionsLog: actionsLogStatus(p.actionsLog),
    };
    if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      process.stdout.write(`host ${st.hostId} enrolled with ${st.serverUrl}\nserver ${reachable ? 'reachable' : `unreachable (${error})`}\n` +
        `policy version ${st.policyVersion}\ncertificate valid until ${out.certificate.notAfter}\n` +
        `spool ${running ? `${running.spool.events} events, ${running.spool.bytes} bytes` : 'unknown (agent not running)'}\n` +
        `actions log ${out.actionsLog.ok === null ? out.actionsLog.problem : `${out.actionsLog.entries} entries, ${out.actionsLog.ok ? 'chain intact' : `BROKEN at entry ${out.actionsLog.firstBadSeq}: ${out.actionsLog.problem}`}`}\n`);
    }
  }));

/** The hash chain of actions.log, verified here (unreadable, e.g. not root: said, not thrown). */
function actionsLogStatus(path: string): { entries: number | null; ok: boolean | null; firstBadSeq: number | null; problem: string | null; head: unknown } {
  try {
    const { entries, ok, firstBadSeq, problem, head } = verifyActionsLog(path);
    return { entries, ok, firstBadSeq, problem, head };
  } catch (e) {
    return { entries: null, ok: null, firstBadSeq: null, problem: `cannot read: ${(e as Error).message}`, head: null };
  }
}

program.command('check')
  .description('run the hardening checks (MLPS level 3, art9/art31) on this machine; exit 1 if any fails')
  .addOption(stateOpt()).addOption(configOpt())
  .option('--json', 'results as JSON')
  .option('--profile <name>', 'check profile (default: the applied policy\'s, else mlps3)')
  .action(action(async (o: { state: string; config?: string; json?: boolean; profile?: string }) => {
    const cfg = loadAgentConfig(o.config);
    const { hostChecks } = await import('./checks/host.js');
    const { results, profile } = await hostChecks(resolve(o.state), cfg, o.profile);
    if (o.json) process.stdout.write(JSON.stringify({ profile, results }, null, 2) + '\n');
    else {
      const { formatTable } = await import('./checks/report.js');
      process.stdout.write(formatTable(results));
    }
    if (results.some((r) => r.status === 'fail')) process.exitCode = 1;
  }));

program.command('attest')
  .description('make a signed hardening attestation (art11) of this machine, write it, and send it to the server')
  .addOption(stateOpt()).addOption(configOpt())
  .option('--out <file>', 'write the attestation here (default: print it)')
  .action(action(async (o: { state: string; config?: string; out?: string }) => {
    const cfg = loadAgentConfig(o.config);
    const dir = resolve(o.state);
    const st = loadState(dir);
    const [{ hostChecks, appliedPolicy }, { collectInventory }, { buildAttestation }, { agentRunner }, { newEvent }, { writeFileAtomic }] = await Promise.all([
      import('./checks/host.js'), import('./collectors/inventory.js'), import('./attest.js'), import('./exec.js'), import('../shared/events.js'), import('../shared/fs.js'),
    ]);
    const { results, profile } = await hostChecks(dir, cfg);
    const { snapshot } = await collectInventory({ platform: process.platform, root: '/', procfs: cfg.paths.procfs, sysfs: cfg.paths.sysfs, run: agentRunner, now: new Date() });
    const file = buildAttestation({ stateDir: dir, hostId: st.hostId, policy: appliedPolicy(dir), profile, results, inventory: snapshot });
    const text = JSON.stringify(file, null, 2) + '\n';
    if (o.out) writeFileAtomic(resolve(o.out), text, 0o644);
    else process.stdout.write(text);
    const client = new AgentClient(dir, () => st);
    try {
      const events = [
        newEvent('host.inventory', 'low', ['art10', 'art18', 'art26', 'art30'], snapshot as unknown as Record<string, unknown>),
        newEvent('host.attestation', 'low', ['art11'], file as unknown as Record<string, unknown>),
      ];
      const r = await client.postEvents(events, AbortSignal.timeout(30_000));
      if (r.rejected.length) throw new TgError('TG_E_ATTESTATION_INVALID', `server refused the attestation: ${r.rejected.map((x) => x.message).join('; ')}`);
      process.stderr.write(`attestation sent to the server (host ${st.hostId})\n`);
    } catch (e) {
      if (e instanceof TgError) throw e;
      process.stderr.write(`attestation not sent (${(e as Error).message}); the running agent sends one daily\n`);
    } finally {
      client.close();
    }
  }));

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
