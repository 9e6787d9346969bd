/** USB devices attached to the terminal (art31): what the removable-media rules and verdict see. */
import type { UsbDevice } from '../../../shared/usb.js';
import { collector } from '../types.js';
import { collectUsbDarwin } from './darwin.js';
import { linuxUsb } from './linux.js';
import { collectUsbWin32 } from './win32.js';

export const usbCollector = collector<UsbDevice[]>('usb', { linux: linuxUsb, win32: collectUsbWin32, darwin: collectUsbDarwin });
