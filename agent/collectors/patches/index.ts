/** Installed updates and pending (security) updates from local metadata only (art30; art29: never online). */
import type { PatchesData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinPatches } from './darwin.js';
import { linuxPatches } from './linux.js';
import { win32Patches } from './win32.js';

export const patchesCollector = collector<PatchesData>('patches', { linux: linuxPatches, win32: win32Patches, darwin: darwinPatches }, 150_000);
