/** win32 hardening checks (placeholder until the catalogue lands). */
import type { CheckDef } from '../types.js';

export const win32Checks: CheckDef[] = [];
