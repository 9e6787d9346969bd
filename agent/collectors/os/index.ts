/** Operating system identity: name, version, kernel, architecture, host name, boot time. */
import type { OsData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinOs } from './darwin.js';
import { linuxOs } from './linux.js';
import { win32Os } from './win32.js';

export const osCollector = collector<OsData>('os', { linux: linuxOs, win32: win32Os, darwin: darwinOs });
