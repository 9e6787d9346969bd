/** Installed packages and applications with versions (art10). */
import type { SoftwareData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinSoftware } from './darwin.js';
import { linuxSoftware } from './linux.js';
import { win32Software } from './win32.js';

export const softwareCollector = collector<SoftwareData>('software', { linux: linuxSoftware, win32: win32Software, darwin: darwinSoftware }, 150_000);
