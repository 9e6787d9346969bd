/** What every console API route shares: the principal on the request, permission checks, parameters. */
import type { FastifyRequest } from 'fastify';
import { TgError } from '../../../../shared/errors.js';
import type { Principal } from '../../../auth/session.js';
import { can, type Permission } from '../../../auth/roles.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Permission the route needs; 'public' for login and the API description. */
    perm?: Permission | 'public' | 'self';
    /** Allowed while the one-time password is still to be changed. */
    beforePasswordChange?: boolean;
  }
}

export function who(req: FastifyRequest): Principal {
  if (!req.principal) throw new TgError('TG_E_UNAUTHENTICATED');
  return req.principal;
}

export function need(req: FastifyRequest, p: Permission): Principal {
  const pr = who(req);
  if (!can(pr.role, p)) throw new TgError('TG_E_FORBIDDEN', `role ${pr.role} may not do this (${p})`);
  return pr;
}

export type Q = Record<string, string | undefined>;

export function query(req: FastifyRequest): Q {
  return (req.query ?? {}) as Q;
}

export function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new TgError('TG_E_BAD_REQUEST', 'expected a JSON object');
  return b as Record<string, unknown>;
}

export function str(v: unknown, name: string, o: { max?: number; optional?: boolean; pattern?: RegExp } = {}): string {
  if (v === undefined || v === null || v === '') {
    if (o.optional) return '';
    throw new TgError('TG_E_BAD_REQUEST', `${name}: required`);
  }
  if (typeof v !== 'string' || v.length > (o.max ?? 1000)) throw new TgError('TG_E_BAD_REQUEST', `${name}: expected text of at most ${o.max ?? 1000} characters`);
  if (o.pattern && !o.pattern.test(v)) throw new TgError('TG_E_BAD_REQUEST', `${name}: not in the expected form`);
  return v;
}

export function int(v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TgError('TG_E_BAD_REQUEST', `${name}: expected an integer from ${min} to ${max}`);
  return n;
}

export const list = <T>(items: T[], total = items.length) => ({ items, total });
