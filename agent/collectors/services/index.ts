/** Services with run state and start mode; `unsupported` where the service manager is not running (systemd not PID 1). */
import type { ServicesData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinServices } from './darwin.js';
import { linuxServices } from './linux.js';
import { win32Services } from './win32.js';

export const servicesCollector = collector<ServicesData>('services', { linux: linuxServices, win32: win32Services, darwin: darwinServices });
