/**
 * nftables enforcement: one table of our own, `inet termguard`, replaced in one transaction. Its
 * output chain accepts loopback, IPv6 neighbour discovery, DHCP, the management server, the DNS
 * servers in use and `egress.allow`, then records the destination in a dynamic set with counters and
 * drops. No `ct state established` shortcut: an open connection to a newly forbidden place stops too.
 * Replies to inbound connections from outside the allow list are dropped as well (art28: least
 * privilege both ways). The table stays when the agent stops or crashes (fail closed).
 */
import type { Runner } from '../../exec.js';
import type { BlockedCounts, FirewallEnforcer } from '../enforcer.js';
import type { AllowEntry, EnforcementPlan } from '../types.js';

export const NFT_TABLE = 'termguard';
const MARK = 'termguard egress plan ';

function cidr(e: { address: string; prefix: number; family: 4 | 6 }): string {
  return e.prefix === (e.family === 4 ? 32 : 128) ? e.address : `${e.address}/${e.prefix}`;
}

function allowRule(e: AllowEntry): string {
  const match = `${e.family === 4 ? 'ip' : 'ip6'} daddr ${cidr(e)}`;
  return e.port === null ? `${match} accept` : `${match} meta l4proto { tcp, udp } th dport ${e.port} accept`;
}

/** The whole `nft -f` script: create-then-delete makes the replacement one atomic transaction. */
export function nftRuleset(plan: EnforcementPlan, hash: string): string {
  const rules = [
    'oifname "lo" accept',
    'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-report, mld2-listener-report } accept',
    'udp sport 68 udp dport 67 accept',
    'meta nfproto ipv6 udp sport 546 udp dport 547 accept',
    ...plan.server.map((s) => `${s.family === 4 ? 'ip' : 'ip6'} daddr ${s.address} accept`),
    ...plan.dns.map((d) => `${d.family === 4 ? 'ip' : 'ip6'} daddr ${d.address} meta l4proto { tcp, udp } th dport 53 accept`),
    ...plan.allow.map(allowRule),
    'meta nfproto ipv4 update @blocked4 { ip daddr } counter name "blocked" drop',
    'meta nfproto ipv6 update @blocked6 { ip6 daddr } counter name "blocked" drop',
  ];
  return [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    `  comment "${MARK}${hash}"`,
    '  counter blocked { }',
    '  set blocked4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 1d; counter; }',
    '  set blocked6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 1d; counter; }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The plan hash in `nft list table inet termguard` output, if the table is ours and complete. */
export function installedHash(listing: string): string | null {
  const m = new RegExp(`comment "${MARK}([0-9a-f]+)"`).exec(listing);
  if (!m || !/hook output priority filter; policy accept;/.test(listing) || !/counter name "blocked" drop/.test(listing)) return null;
  return m[1]!;
}

interface NftJson { nftables?: Record<string, Record<string, unknown>>[] }

/** `nft -j list table inet termguard`: the counter and the per-destination set elements. */
export function parseNftCounts(json: string): BlockedCounts | null {
  let doc: NftJson;
  try {
    doc = JSON.parse(json) as NftJson;
  } catch {
    return null;
  }
  const out: BlockedCounts = { packets: 0, bytes: 0, destinations: [] };
  for (const item of doc.nftables ?? []) {
    if (item.counter && item.counter.name === 'blocked') {
      out.packets = Number(item.counter.packets) || 0;
      out.bytes = Number(item.counter.bytes) || 0;
    }
    const set = item.set;
    if (set && (set.name === 'blocked4' || set.name === 'blocked6') && Array.isArray(set.elem)) {
      for (const el of set.elem as unknown[]) {
        const e = (el as { elem?: { val?: unknown; counter?: { packets?: number; bytes?: number } } }).elem;
        if (!e || typeof e.val !== 'string') continue;
        out.destinations.push({ address: e.val, packets: Number(e.counter?.packets) || 0, bytes: Number(e.counter?.bytes) || 0 });
      }
    }
  }
  out.destinations.sort((a, b) => b.packets - a.packets || (a.address < b.address ? -1 : 1));
  return out;
}

export class NftEnforcer implements FirewallEnforcer {
  readonly kind = 'nftables';

  constructor(private readonly run: Runner, private readonly nft = 'nft') {}

  private async nftCmd(args: string[], input?: string): Promise<string> {
    const r = await this.run(this.nft, args, { timeoutMs: 15_000, ...(input !== undefined ? { input } : {}) });
    if (r.error || r.code !== 0) throw new Error(`${this.nft} ${args.join(' ')}: ${r.error ?? r.stderr.trim().slice(0, 500) ?? `exit ${r.code}`}`);
    return r.stdout;
  }

  async installed(): Promise<string | null> {
    const r = await this.run(this.nft, ['list', 'table', 'inet', NFT_TABLE], { timeoutMs: 15_000 });
    if (r.error) throw new Error(`${this.nft}: ${r.error}`);
    return r.code === 0 ? installedHash(r.stdout) : null;
  }

  async apply(plan: EnforcementPlan, hash: string): Promise<void> {
    await this.nftCmd(['-f', '-'], nftRuleset(plan, hash));
  }

  async remove(): Promise<void> {
    // Create-then-delete: removes the table whether or not it exists, in one transaction.
    await this.nftCmd(['-f', '-'], `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n`);
  }

  async counts(): Promise<BlockedCounts | null> {
    const r = await this.run(this.nft, ['-j', 'list', 'table', 'inet', NFT_TABLE], { timeoutMs: 15_000, maxBytes: 32 * 1024 * 1024 });
    if (r.error || r.code !== 0) return null;
    return parseNftCounts(r.stdout);
  }
}
