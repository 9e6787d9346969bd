/** Listening TCP and unconnected UDP sockets with their owning process (art18). */
import type { ListeningData } from '../../../shared/inventory.js';
import { collector, type Collector } from '../types.js';
import { darwinListening } from './darwin.js';
import { makeLinuxListening, SocketOwnerCache } from './linux.js';
import { win32Listening } from './win32.js';

export { SocketOwnerCache };

/** A listening collector with its own inode → pid cache (tests pass one to watch it work). */
export function makeListeningCollector(cache = new SocketOwnerCache()): Collector<ListeningData> {
  return collector<ListeningData>('listening', { linux: makeLinuxListening(cache), win32: win32Listening, darwin: darwinListening });
}

export const listeningCollector = makeListeningCollector();
