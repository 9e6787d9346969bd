/**
 * Agent configuration: `--config FILE` (JSON, every key optional), then `TERMGUARD_<KEY_PATH>`
 * environment variables (e.g. TERMGUARD_PATHS_SYSFS, TERMGUARD_SPOOL_MAXBYTES), then defaults.
 * Each option is defined once, here, with its default and validator.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TgError } from '../shared/errors.js';

export const AgentConfigSchema = z.strictObject({
  paths: z.strictObject({
    procfs: z.string().default('/proc').describe('root of procfs (node_exporter --path.procfs)'),
    sysfs: z.string().default('/sys').describe('root of sysfs'),
  }).prefault({}),
  media: z.strictObject({
    removableDevices: z.array(z.string()).default([]).describe('extra block-device globs treated as removable, e.g. /dev/loop*'),
  }).prefault({}),
  intervals: z.strictObject({
    heartbeat: z.number().min(1).max(86_400).default(60).describe('seconds between heartbeats (jittered ±10%)'),
    commandsWait: z.number().int().min(1).max(60).default(60).describe('seconds a command long-poll waits at most (it ends early, just before a heartbeat is due)'),
    renewalCheck: z.number().min(1).max(86_400).default(3600).describe('seconds between certificate lifetime checks'),
    status: z.number().min(1).max(3600).default(10).describe('seconds between status file writes'),
    inventory: z.number().min(60).max(7 * 86_400).default(86_400).describe('seconds between full inventories (host.inventory)'),
    inventoryChanges: z.number().min(5).max(86_400).default(300).describe('seconds between reads of the watched sections (network, users, software, listening, anti-malware)'),
    checks: z.number().min(60).max(7 * 86_400).default(21_600).describe('seconds between hardening check runs (host.check)'),
    attest: z.number().min(300).max(30 * 86_400).default(86_400).describe('seconds between signed attestations (host.attestation)'),
  }).prefault({}),
  egress: z.strictObject({
    pollMs: z.number().int().min(100).max(60_000).default(1000).describe('milliseconds between reads of the connection table and network paths'),
    socketEvents: z.boolean().default(true).describe('catch short-lived connections with ss -E / conntrack -E children (root only)'),
    probeSeconds: z.number().min(10).max(86_400).default(300).describe('seconds between runs of the policy probes (also at start, on network and policy change)'),
    aggregateSeconds: z.number().min(1).max(86_400).default(60).describe('seconds between reports of repeated violations (count, last seen)'),
    blockedSeconds: z.number().min(1).max(86_400).default(30).describe('seconds between egress.blocked reports while enforcing'),
    retrySeconds: z.number().min(1).max(86_400).default(60).describe('seconds before enforcement is tried again after a rollback or failure'),
    verifyAttempts: z.number().int().min(1).max(20).default(3).describe('connection attempts to the server after applying rules before rolling back'),
    verifyTimeoutMs: z.number().int().min(100).max(60_000).default(5000).describe('timeout of each verification attempt'),
    probeTimeoutMs: z.number().int().min(100).max(60_000).default(3000).describe('timeout of each reachability probe'),
    fullReadSeconds: z.number().min(1).max(3600).default(30).describe('longest time between full connection table reads while /proc/net/sockstat shows no change (Linux, with ss -E)'),
    nft: z.string().default('nft').describe('nft program (Linux enforcement)'),
  }).prefault({}),
  spool: z.strictObject({
    maxBytes: z.number().int().min(64 * 1024).default(256 * 1024 * 1024).describe('byte cap of the on-disk spool'),
  }).prefault({}),
  send: z.strictObject({
    batchEvents: z.number().int().min(1).max(1000).default(500).describe('events per POST /v1/events'),
    maxEventsPerSecond: z.number().min(1).default(5000).describe('drain rate limit after an outage'),
    backoffMaxSeconds: z.number().min(0.1).max(3600).default(300).describe('longest wait between retries'),
    drainJitterSeconds: z.number().min(0).max(3600).default(5).describe('longest random delay before draining after an outage'),
  }).prefault({}),
  watchdog: z.strictObject({
    maxRssMb: z.number().min(16).max(16_384).default(200).describe('RSS budget of the agent in MiB (osquery: 200)'),
    maxCpuPercent: z.number().min(1).max(400).default(10).describe('CPU budget, percent of one core (osquery: 10)'),
    sampleSeconds: z.number().min(0.05).max(3600).default(3).describe('seconds between watchdog samples of RSS and CPU'),
    sustainedSeconds: z.number().min(0.05).max(3600).default(12).describe('seconds over a budget before the next step of work is shed (osquery: 12)'),
    restoreSeconds: z.number().min(0.05).max(86_400).default(60).describe('seconds under 80 % of both budgets before shed work is restored'),
    stretch: z.number().min(1.5).max(100).default(4).describe('a shed part waits this many times longer between rounds (then, if still over, pausable parts pause)'),
    restartRssFactor: z.number().min(1).max(100).default(2).describe('RSS over this many times its budget …'),
    restartAfterSeconds: z.number().min(0.05).max(86_400).default(60).describe('… for this many seconds stops the agent (exit 75) so the service manager restarts it'),
    /** Before 0.1 the watchdog counted samples; still accepted so an older config file keeps loading. */
    samples: z.number().int().min(1).max(1000).optional().describe('deprecated and ignored: see sustainedSeconds'),
  }).prefault({}),
  /** Overrides the OS machine id (simulators and tests that run many agents on one machine). */
  machineId: z.string().min(1).max(256).optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type AgentConfig = z.output<typeof AgentConfigSchema>;

type Leaf = { path: string[]; kind: 'string' | 'number' | 'boolean' | 'array' };

/** Leaf options of the schema, for the environment variable names. */
function leaves(schema: z.ZodType, path: string[] = []): Leaf[] {
  let s = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType> } };
  while (s.def.innerType) s = s.def.innerType as typeof s;
  if (s.def.type === 'object' && s.def.shape) return Object.entries(s.def.shape).flatMap(([k, v]) => leaves(v, [...path, k]));
  const kind = s.def.type === 'number' ? 'number' : s.def.type === 'boolean' ? 'boolean' : s.def.type === 'array' ? 'array' : 'string';
  return [{ path, kind }];
}

export function envName(path: string[]): string {
  return 'TERMGUARD_' + path.join('_').toUpperCase();
}

export function loadAgentConfig(file?: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let raw: Record<string, unknown> = {};
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new TgError('TG_E_CONFIG', `read config ${file}: ${(cause as Error).message}`, { cause });
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TgError('TG_E_CONFIG', `${file}: expected a JSON object`);
  }
  for (const leaf of leaves(AgentConfigSchema)) {
    const v = env[envName(leaf.path)];
    if (v === undefined || v === '') continue;
    let value: unknown = v;
    if (leaf.kind === 'number') value = Number(v);
    else if (leaf.kind === 'boolean') value = v === 'true' || v === '1';
    else if (leaf.kind === 'array') value = v.startsWith('[') ? JSON.parse(v) as unknown : v.split(',').map((x) => x.trim()).filter(Boolean);
    let node = raw;
    for (const k of leaf.path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[leaf.path[leaf.path.length - 1]!] = value;
  }
  const r = AgentConfigSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TgError('TG_E_CONFIG', `config ${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}
