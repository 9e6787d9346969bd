/** DESIGN.md: agent/ never imports server/ and the reverse; both import shared/, which imports neither. */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const importRe = /(?:from\s+|import\s*\(\s*|require\(\s*)['"]([^'"]+)['"]/g;

/** Imports of `dir`'s files that land in a forbidden top-level folder (or name a forbidden package). */
function offenders(dir: string, forbidden: RegExp): string[] {
  const out: string[] = [];
  for (const f of files(dir)) {
    for (const m of readFileSync(f, 'utf8').matchAll(importRe)) {
      const spec = m[1]!;
      const target = spec.startsWith('.') ? relative('.', resolve(dirname(f), spec)) : spec;
      if (forbidden.test(target)) out.push(`${f}: ${spec}`);
    }
  }
  return out;
}

describe('layout', () => {
  it('agent/ does not import server/', () => expect(offenders('agent', /^server\//)).toEqual([]));
  it('server/ does not import agent/', () => expect(offenders('server', /^agent\//)).toEqual([]));
  it('shared/ imports neither', () => expect(offenders('shared', /^(agent|server)\//)).toEqual([]));
  it('the agent does not load node-forge (keys and CSRs use node:crypto only)', () => expect(offenders('agent', /^node-forge$/)).toEqual([]));
  it('top-level folders are exactly the designed ones', () => {
    const dirs = readdirSync('.').filter((f) => statSync(f).isDirectory() && !f.startsWith('.') && !['node_modules', 'dist', 'data', 'coverage'].includes(f));
    expect(dirs.sort()).toEqual(['agent', 'installers', 'server', 'shared', 'tests']);
  });
});
