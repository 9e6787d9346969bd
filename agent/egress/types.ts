/**
 * What every platform's egress code produces and consumes. The connection readers (Linux /proc,
 * Windows PowerShell, macOS lsof) all yield `Conn` rows; the classifier and the enforcers work on
 * them and on an `EnforcementPlan`, whatever the platform.
 */

export type Proto = 'tcp' | 'udp';
export type Family = 4 | 6;

/**
 * Socket states, lower case. TCP: the kernel's names (`established`, `syn_sent`, `syn_recv`,
 * `fin_wait1`, `fin_wait2`, `time_wait`, `close`, `close_wait`, `last_ack`, `listen`, `closing`,
 * `new_syn_recv`) plus Windows' `bound` and `delete_tcb`; UDP: `unconnected` (no remote address)
 * or `connected`. A socket seen only through a destroy event (ss -E) is `closed`.
 */
export type ConnState =
  | 'established' | 'syn_sent' | 'syn_recv' | 'fin_wait1' | 'fin_wait2' | 'time_wait' | 'close' | 'close_wait'
  | 'last_ack' | 'listen' | 'closing' | 'new_syn_recv' | 'bound' | 'delete_tcb' | 'unconnected' | 'connected' | 'closed';

export interface ProcessInfo {
  pid: number;
  /** Short name (comm, ProcessName, lsof's c field). */
  name: string | null;
  /** Full path of the executable, when the OS tells it. */
  exe: string | null;
  /** Account name, or the numeric uid/SID as text when it cannot be resolved. */
  user: string | null;
}

export interface Conn {
  proto: Proto;
  family: Family;
  localAddress: string;
  localPort: number;
  /** '0.0.0.0' / '::' with port 0 for listening and unconnected sockets. */
  remoteAddress: string;
  remotePort: number;
  state: ConnState;
  /** Linux socket inode (0 when the kernel shows none, e.g. TIME_WAIT); absent elsewhere. */
  inode?: number;
  /** Owning process id when known. */
  pid: number | null;
  /** Filled by attribution (Linux) or by the platform reader directly (Windows, macOS). */
  process?: ProcessInfo | null;
}

/** A parsed `egress.allow` entry: a CIDR range and an optional port (TCP and UDP). */
export interface AllowEntry {
  text: string;
  family: Family;
  address: string;
  prefix: number;
  port: number | null;
}

/**
 * What the host firewall lets out: everything else is dropped and counted. The management server,
 * DHCP, DNS servers in use and IPv6 neighbour discovery are always in it (DESIGN.md).
 */
export interface EnforcementPlan {
  /** Management server endpoints (address as resolved by the agent, TCP port). */
  server: { address: string; family: Family; port: number }[];
  /** DNS servers in use (UDP and TCP 53). */
  dns: { address: string; family: Family }[];
  allow: AllowEntry[];
}
