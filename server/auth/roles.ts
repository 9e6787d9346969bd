/**
 * Roles and what each may do. `admin` holds every power (small institutions); with separation of
 * duties on (MLPS level 3, 三员分立) admin logins are refused and the powers split into disjoint
 * sets: `sysadmin` (users, tokens, server settings), `secadmin` (policies, exceptions, violations,
 * revocation, drills) and `auditor` (reads everything, the audit log and reports; changes nothing).
 * `analyst` triages violations.
 */
export const ROLES = ['admin', 'sysadmin', 'secadmin', 'auditor', 'analyst'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  read: ['admin', 'sysadmin', 'secadmin', 'auditor', 'analyst'],
  'audit.read': ['admin', 'auditor'],
  'reports.read': ['admin', 'secadmin', 'auditor'],
  'violations.triage': ['admin', 'secadmin', 'analyst'],
  'policy.write': ['admin', 'secadmin'],
  'hosts.write': ['admin', 'secadmin'],
  'usb.approve': ['admin', 'secadmin'],
  'drill.start': ['admin', 'secadmin'],
  'tokens.write': ['admin', 'sysadmin'],
  'users.write': ['admin', 'sysadmin'],
  'settings.write': ['admin', 'sysadmin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function isRole(s: unknown): s is Role {
  return typeof s === 'string' && (ROLES as readonly string[]).includes(s);
}

export function can(role: string, p: Permission): boolean {
  return (PERMISSIONS[p] as readonly string[]).includes(role);
}

/** Roles whose logins need a second factor once one is enrolled (every role that can change something). */
export const MFA_ROLES: readonly Role[] = ['admin', 'sysadmin', 'secadmin'];
