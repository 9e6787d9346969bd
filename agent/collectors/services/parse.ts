/** Pure parsers for the services collector. */
import type { ServiceData } from '../../../shared/inventory.js';
import { asArray, byName, str } from '../util.js';

type State = ServiceData['state'];
type Startup = NonNullable<ServiceData['startup']>;

/** `systemctl list-units --type=service --all --no-legend --no-pager --plain`: "name load active sub description…". */
export function parseListUnits(text: string): Map<string, { state: State; description: string | null }> {
  const out = new Map<string, { state: State; description: string | null }>();
  for (const line of text.split('\n')) {
    const f = line.replace(/^[●*]\s*/, '').trim().split(/\s+/);
    if (f.length < 4 || !f[0]!.endsWith('.service')) continue;
    const [, , active, sub] = f;
    const state: State = sub === 'running' ? 'running' : active === 'failed' ? 'failed' : active === 'activating' ? 'starting'
      : active === 'deactivating' ? 'stopping' : active === 'inactive' || sub === 'dead' || sub === 'exited' ? 'stopped' : active === 'active' ? 'running' : 'unknown';
    out.set(f[0]!, { state, description: f.slice(4).join(' ') || null });
  }
  return out;
}

/** `systemctl list-unit-files --type=service --no-legend --no-pager`: "name state [preset]". */
export function parseListUnitFiles(text: string): Map<string, Startup> {
  const out = new Map<string, Startup>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2 || !f[0]!.endsWith('.service')) continue;
    const s = f[1]!;
    out.set(f[0]!, s === 'enabled' || s === 'enabled-runtime' ? 'automatic' : s === 'disabled' ? 'manual' : s === 'masked' || s === 'masked-runtime' ? 'disabled' : s === 'static' ? 'static' : 'other');
  }
  return out;
}

export function mergeSystemd(units: ReturnType<typeof parseListUnits>, files: ReturnType<typeof parseListUnitFiles>): ServiceData[] {
  const names = new Set([...units.keys(), ...[...files.keys()].filter((n) => !n.includes('@.'))]);
  return [...names].map((name) => ({ name, displayName: units.get(name)?.description ?? null, state: units.get(name)?.state ?? 'stopped', startup: files.get(name) ?? null })).sort(byName);
}

const WIN_STATUS: Record<string, State> = { 1: 'stopped', 2: 'starting', 3: 'stopping', 4: 'running', 5: 'starting', 6: 'stopping', 7: 'paused', Stopped: 'stopped', StartPending: 'starting', StopPending: 'stopping', Running: 'running', ContinuePending: 'starting', PausePending: 'stopping', Paused: 'paused' };
const WIN_START: Record<string, Startup> = { 0: 'boot', 1: 'system', 2: 'automatic', 3: 'manual', 4: 'disabled', Boot: 'boot', System: 'system', Automatic: 'automatic', Manual: 'manual', Disabled: 'disabled' };

/** `Get-Service | Select Name,DisplayName,Status,StartType | ConvertTo-Json`: enums are numbers (strings with -EnumsAsStrings). */
export function parseGetService(json: unknown): ServiceData[] {
  return asArray(json).flatMap((s) => {
    const name = str(s.Name);
    return name ? [{ name, displayName: str(s.DisplayName), state: WIN_STATUS[String(s.Status)] ?? 'unknown', startup: WIN_START[String(s.StartType)] ?? null }] : [];
  }).sort(byName);
}

/** `launchctl list`: "PID\tStatus\tLabel"; PID "-" means not running, a non-zero status is the last exit code. */
export function parseLaunchctlList(text: string): ServiceData[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split('\t');
    if (f.length < 3 || f[0] === 'PID') return [];
    const running = /^\d+$/.test(f[0]!.trim());
    const status = f[1]!.trim();
    return [{ name: f[2]!.trim(), displayName: null, state: running ? 'running' as const : status !== '0' && status !== '-' ? 'failed' as const : 'stopped' as const, startup: null }];
  }).sort(byName);
}
