/** Network interfaces (MAC, addresses, link state, kind), default gateways and DNS servers (art26). */
import type { NetworkData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinNetwork } from './darwin.js';
import { linuxNetwork } from './linux.js';
import { win32Network } from './win32.js';

export const networkCollector = collector<NetworkData>('network', { linux: linuxNetwork, win32: win32Network, darwin: darwinNetwork });
