/** Canonical JSON (RFC 8785 JCS) and digests over it: one place, so SM3 can sit beside SHA-256 later. */
import { createHash } from 'node:crypto';
import canonicalizeJcs from 'canonicalize';

export function canonicalize(value: unknown): string {
  const s = canonicalizeJcs(value);
  if (s === undefined) throw new Error('value cannot be canonicalised');
  return s;
}

/** `sha256:` + hex of the canonical JSON of a value. */
export function digest(value: unknown): string {
  return 'sha256:' + createHash('sha256').update(canonicalize(value)).digest('hex');
}
