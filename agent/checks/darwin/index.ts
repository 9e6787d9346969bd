/** darwin hardening checks (placeholder until the catalogue lands). */
import type { CheckDef } from '../types.js';

export const darwinChecks: CheckDef[] = [];
