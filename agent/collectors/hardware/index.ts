/** Hardware identity: vendor, model, serials, CPU, memory, disks. */
import type { HardwareData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinHardware } from './darwin.js';
import { linuxHardware } from './linux.js';
import { win32Hardware } from './win32.js';

export const hardwareCollector = collector<HardwareData>('hardware', { linux: linuxHardware, win32: win32Hardware, darwin: darwinHardware });
