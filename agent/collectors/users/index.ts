/** Local accounts (admin, disabled) and logged-in sessions. */
import type { UsersData } from '../../../shared/inventory.js';
import { collector } from '../types.js';
import { darwinUsers } from './darwin.js';
import { linuxUsers } from './linux.js';
import { win32Users } from './win32.js';

export const usersCollector = collector<UsersData>('users', { linux: linuxUsers, win32: win32Users, darwin: darwinUsers });
