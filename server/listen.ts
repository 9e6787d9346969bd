/**
 * The agent listener's accepting sockets (server/native/listen).
 *
 * libuv (since 1.45, Node 20) accepts one connection per listening socket per event-loop turn
 * (libuv/libuv#3696). A server holding thousands of TLS connections takes milliseconds per turn, so
 * when a fleet comes back after an outage a single socket accepts a few hundred connections a
 * second while thousands arrive: its accept queue fills, the kernel drops handshakes
 * (TcpExtListenOverflows) and each dropped agent waits out TCP's SYN backoff (1, 3, 7, 15, 31 s).
 * Several sockets on one port (SO_REUSEPORT; the kernel spreads connections over them) accept that
 * many connections per turn, one Node server each, all routed to the same fastify instance.
 * Linux only; without the addon, or for a host name rather than an address, one socket as before.
 */
import { nativeAddon } from './native-addon.js';
import { isIP } from 'node:net';

interface ListenAddon {
  listenShared(address: string, port: number, backlog: number, count: number): { fds: number[]; port: number };
}

const listenAddon = () => nativeAddon<ListenAddon>('listen');

/** Why shared sockets are not used here (null: they can be). */
export function sharedListenUnavailable(address: string, count: number): string | null {
  if (count <= 1) return 'one accepting socket configured';
  if (!isIP(address)) return `bind address ${address} is a name, not an address`;
  if (!listenAddon()) return 'server/native/listen is not built (or not Linux)';
  return null;
}

/**
 * `count` listening sockets on one port (0: a free one), each with `backlog`; their file descriptors
 * and the port. Throws a TG_E_LISTEN error naming the step that failed (EADDRINUSE: the port is taken).
 */
export function listenShared(address: string, port: number, backlog: number, count: number): { fds: number[]; port: number } {
  const a = listenAddon();
  if (!a) throw new Error('server/native/listen is not available');
  return a.listenShared(address, port, backlog, count);
}
