/**
 * The agent's state folder: agent.key (0600, made here, never sent), agent.crt, ca.crt, the
 * renewal secret (0600), state.json (host id, server URLs, policy version, command cursor), spool/,
 * actions.log (the agent's own actions, hash-chained).
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ensureDir, exists, writeFileAtomic } from '../shared/fs.js';
import { TgError } from '../shared/errors.js';

export function defaultStateDir(): string {
  if (process.platform === 'win32') return join(process.env.ProgramData ?? 'C:\\ProgramData', 'termguard');
  if (process.platform === 'darwin') return '/Library/Application Support/termguard';
  return '/var/lib/termguard';
}

export const statePaths = (dir: string) => ({
  key: join(dir, 'agent.key'),
  cert: join(dir, 'agent.crt'),
  ca: join(dir, 'ca.crt'),
  secret: join(dir, 'renewal.secret'),
  state: join(dir, 'state.json'),
  status: join(dir, 'status.json'),
  policy: join(dir, 'policy.json'),
  spool: join(dir, 'spool'),
  /** Hash-chained log of the agent's own actions (0600, append-only). */
  actionsLog: join(dir, 'actions.log'),
  /** Written by an installer before it stops the service ("uninstall", "upgrade"); read once at stop. */
  stopReason: join(dir, 'stop-reason'),
});

export interface AgentState {
  hostId: string;
  /** The console listener we enrolled through (recovery goes there). */
  serverUrl: string;
  /** The agent listener (mutual TLS). */
  agentUrl: string;
  enrolledAt: string;
  machineId: string;
  policyVersion: number;
  commandCursor: number;
}

export function loadState(dir: string): AgentState {
  const p = statePaths(dir);
  if (!exists(p.state) || !exists(p.cert) || !exists(p.key)) {
    throw new TgError('TG_E_NOT_ENROLLED', `no enrollment in ${dir}; run \`termguard-agent enroll\` first`);
  }
  return JSON.parse(readFileSync(p.state, 'utf8')) as AgentState;
}

export function saveState(dir: string, s: AgentState): void {
  writeFileAtomic(statePaths(dir).state, JSON.stringify(s, null, 2) + '\n', 0o600);
}

export function ensureStateDir(dir: string): void {
  ensureDir(dir, 0o700);
}
