/**
 * A network lab of real namespaces (root only): `term` (the agent), `sin` (the server and allowed
 * hosts, 198.18.2.0/24), `inet` (the internet, 203.0.113.0/24), joined by veth pairs through a
 * router namespace. Names carry the test process id so parallel runs never meet; `destroy` kills
 * every process in the namespaces and deletes them (their veths and nftables go with them), and a
 * sweep removes what a killed earlier run left.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export const LAB = {
  term: { addr: '198.18.1.2', gw: '198.18.1.1' },
  sin: { addr: '198.18.2.2', gw: '198.18.2.1', other: '198.18.2.3' },
  inet: { addr: '203.0.113.10', gw: '203.0.113.1', other: '203.0.113.20' },
} as const;

export const canRunLab = (): string | null => {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'ip (iproute2) and nft (nftables) are needed';
  }
  return null;
};

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function deleteNamespace(ns: string): void {
  let pids: string[] = [];
  try { pids = ip('netns', 'pids', ns).split('\n').filter(Boolean); } catch { /* gone */ }
  for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  try { ip('netns', 'del', ns); } catch { /* gone */ }
}

/** Namespaces of earlier runs whose test process is dead. */
export function sweepStaleLabs(): void {
  let list = '';
  try { list = ip('netns', 'list'); } catch { return; }
  for (const line of list.split('\n')) {
    const m = /^(tgl(\d+)[a-z]\d*-\S+)/.exec(line);
    if (m && !alive(Number(m[2]))) deleteNamespace(m[1]!);
  }
}

let labCount = 0;

export class NetLab {
  readonly ns: { term: string; sin: string; inet: string; rtr: string };
  private readonly children = new Set<ChildProcess>();

  private constructor(prefix: string) {
    this.ns = { term: `${prefix}-term`, sin: `${prefix}-sin`, inet: `${prefix}-inet`, rtr: `${prefix}-rtr` };
  }

  static create(): NetLab {
    sweepStaleLabs();
    const lab = new NetLab(`tgl${process.pid}l${labCount++}`);
    try {
      lab.build();
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  private build(): void {
    const { term, sin, inet, rtr } = this.ns;
    for (const n of [term, sin, inet, rtr]) {
      ip('netns', 'add', n);
      ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    const pair = (a: string, aName: string, aAddr: string, bName: string, bAddr: string, gw: string) => {
      ip('link', 'add', aName, 'netns', a, 'type', 'veth', 'peer', 'name', bName, 'netns', rtr);
      ip('-n', a, 'addr', 'add', aAddr, 'dev', aName);
      ip('-n', rtr, 'addr', 'add', bAddr, 'dev', bName);
      ip('-n', a, 'link', 'set', aName, 'up');
      ip('-n', rtr, 'link', 'set', bName, 'up');
      ip('-n', a, 'route', 'add', 'default', 'via', gw);
    };
    pair(term, 't0', `${LAB.term.addr}/24`, 'r-t', `${LAB.term.gw}/24`, LAB.term.gw);
    pair(sin, 's0', `${LAB.sin.addr}/24`, 'r-s', `${LAB.sin.gw}/24`, LAB.sin.gw);
    ip('-n', sin, 'addr', 'add', `${LAB.sin.other}/24`, 'dev', 's0');
    pair(inet, 'i0', `${LAB.inet.addr}/24`, 'r-i', `${LAB.inet.gw}/24`, LAB.inet.gw);
    ip('-n', inet, 'addr', 'add', `${LAB.inet.other}/24`, 'dev', 'i0');
    execFileSync('ip', ['netns', 'exec', rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  }

  /** Run to completion inside a namespace. */
  exec(ns: string, cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: opts.input, env: opts.env ?? process.env,
    });
  }

  /** Start a long-lived process inside a namespace; killed by `destroy`. */
  spawn(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { output: () => string } {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env }) as ChildProcess & { output: () => string };
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
    child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-200_000); });
    child.output = () => out;
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** A second way out of `term`: a new veth with its own default route (metric 50). */
  addSecondPath(name = 't1'): void {
    ip('link', 'add', name, 'netns', this.ns.term, 'type', 'veth', 'peer', 'name', 'r-t1', 'netns', this.ns.rtr);
    ip('-n', this.ns.term, 'addr', 'add', '198.51.100.2/24', 'dev', name);
    ip('-n', this.ns.rtr, 'addr', 'add', '198.51.100.1/24', 'dev', 'r-t1');
    ip('-n', this.ns.rtr, 'link', 'set', 'r-t1', 'up');
    ip('-n', this.ns.term, 'link', 'set', name, 'up');
    ip('-n', this.ns.term, 'route', 'add', 'default', 'via', '198.51.100.1', 'metric', '50');
  }

  destroy(): void {
    for (const c of this.children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    for (const n of Object.values(this.ns)) deleteNamespace(n);
  }
}
