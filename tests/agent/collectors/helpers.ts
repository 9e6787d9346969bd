/** Shared by the collector tests: fixture files, expected JSON beside them, and contexts over fixture trees. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CollectorContext } from '../../../agent/collectors/types.js';
import { runCommand, type Runner } from '../../../agent/exec.js';
import { fixtureRunner, tableRunner } from '../../helpers/fixture-context.js';

export { tableRunner };

export const FIXTURES = join(import.meta.dirname, '../../fixtures');
export const NOW = new Date('2026-11-25T12:00:00Z');

export function fx(os: string, collector: string, file: string): string {
  return readFileSync(join(FIXTURES, os, collector, file), 'utf8');
}

export function fxJson(os: string, collector: string, file: string): unknown {
  return JSON.parse(fx(os, collector, file)) as unknown;
}

/** Compare with `<case>.json` beside the fixture; UPDATE_FIXTURES=1 rewrites it (review the diff). */
export function expectMatchesJson(os: string, collector: string, name: string, value: unknown): void {
  const p = join(FIXTURES, os, collector, `${name}.json`);
  if (process.env.UPDATE_FIXTURES === '1' || !existsSync(p)) writeFileSync(p, JSON.stringify(value, null, 2) + '\n');
  expect(JSON.parse(JSON.stringify(value))).toEqual(JSON.parse(readFileSync(p, 'utf8')));
}

/** A CollectorContext over a fixture folder (fs/ tree + commands.json), as fixtureContext does for checks. */
export function fixtureCollectorContext(dir: string, platform: NodeJS.Platform, run: Runner = fixtureRunner(dir)): CollectorContext {
  return { platform, root: join(dir, 'fs'), procfs: join(dir, 'fs', 'proc'), sysfs: join(dir, 'fs', 'sys'), run, now: NOW };
}

export function ctxWith(platform: NodeJS.Platform, run: Runner, root = '/nonexistent-fixture-root'): CollectorContext {
  return { platform, root, procfs: join(root, 'proc'), sysfs: join(root, 'sys'), run, now: NOW };
}

/** This machine, for real. */
export function hostContext(): CollectorContext {
  return { platform: process.platform, root: '/', procfs: '/proc', sysfs: '/sys', run: runCommand, now: new Date() };
}

export const onLinux = process.platform === 'linux';
