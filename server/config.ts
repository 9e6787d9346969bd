/**
 * The server's data directory: CA, server key and certificate, config, and the SQLite file.
 * Each option is defined once here: flag name, default, validator.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TgError } from '../shared/errors.js';
import { exists, writeFileAtomic } from '../shared/fs.js';

export const MIN_RETENTION_DAYS = 184; // art19: six calendar months, never less
export const DEFAULT_RETENTION_DAYS = 190;

export const ServerConfigSchema = z.strictObject({
  hosts: z.array(z.string().min(1).max(253)).min(1).describe('names and addresses in the server certificate'),
  agentPort: z.number().int().min(1).max(65535).default(8443),
  consolePort: z.number().int().min(1).max(65535).default(8444),
  bind: z.string().default('127.0.0.1'),
  /** Where agents reach the agent listener; default https://<host the agent enrolled through>:<agentPort>. */
  agentUrl: z.string().url().optional(),
  retentionDays: z.number().int().default(DEFAULT_RETENTION_DAYS),
  agentCertDays: z.number().int().min(1).max(825).default(90),
  /** How often the server re-reads revocations (other processes, `host revoke`): open connections close within this. */
  revocationPollSeconds: z.number().min(0.2).max(60).default(5),
  /** Events waiting to be stored beyond which ingest answers 503 with Retry-After (back-pressure). */
  maxInflightEvents: z.number().int().min(1000).default(100_000),
  /** Shown on reports. */
  institution: z.string().max(200).optional(),
  /** How often the server looks for hosts that missed 3 heartbeats (agent.offline). */
  offlineCheckSeconds: z.number().min(0.2).max(3600).default(30),
  /**
   * glibc malloc tuning (server/malloc.ts): per-connection TLS buffers mapped on their own so an
   * idle agent's connection keeps only the pages it touches, and a trim every minute.
   */
  mallocTuning: z.boolean().default(true),
  /**
   * Listening sockets sharing the agent port (server/listen.ts): each accepts one connection per
   * event-loop turn, so a fleet reconnecting at once is accepted that many times faster (8: the
   * 10,000-agent ramp 148 → 107 s, the reconnect storm 147 → 131 s, 5,300 fewer errors). 1, the
   * default, one socket: with 8, idle agents reopened their heartbeat connection four times as
   * often (not yet explained), which costs a fleet's idle server CPU.
   */
  agentAcceptSockets: z.number().int().min(1).max(64).default(1),
  /** IANA zone for report day and month boundaries. */
  timeZone: z.string().max(64).default('Asia/Shanghai'),
});
export type ServerConfig = z.output<typeof ServerConfigSchema>;

/** A host name or address as it goes into a URL (IPv6 in brackets). */
export function urlHost(name: string): string {
  return name.includes(':') ? `[${name}]` : name;
}

/** The console listener's URL under the first name in the server certificate. */
export function consoleUrl(config: Pick<ServerConfig, 'hosts' | 'consolePort'>): string {
  return `https://${urlHost(config.hosts[0]!)}:${config.consolePort}`;
}

export const dataPaths = (dir: string) => ({
  caKey: join(dir, 'ca.key'),
  caCert: join(dir, 'ca.crt'),
  serverKey: join(dir, 'server.key'),
  serverCert: join(dir, 'server.crt'),
  config: join(dir, 'config.json'),
  sqlite: join(dir, 'termguard.db'),
});

export function checkRetention(days: number): void {
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS) {
    throw new TgError('TG_E_RETENTION_TOO_SHORT', `retention of ${days} days refused: at least ${MIN_RETENTION_DAYS} days are kept (art19: six months)`);
  }
}

export function loadConfig(dir: string): ServerConfig {
  const p = dataPaths(dir);
  if (!exists(p.caCert) || !exists(p.config)) throw new TgError('TG_E_NO_CA', `no CA in ${dir}; run \`termguard-server init --data ${dir}\` first`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p.config, 'utf8'));
  } catch (cause) {
    throw new TgError('TG_E_CONFIG', `${p.config} is not valid JSON`, { cause });
  }
  const r = ServerConfigSchema.safeParse(raw);
  if (!r.success) throw new TgError('TG_E_CONFIG', `${p.config}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
  checkRetention(r.data.retentionDays);
  return r.data;
}

export function saveConfig(dir: string, cfg: ServerConfig): void {
  writeFileAtomic(dataPaths(dir).config, JSON.stringify(cfg, null, 2) + '\n', 0o600);
}
