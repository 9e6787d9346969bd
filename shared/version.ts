/** The product version, from package.json (one place). */
import { readFileSync } from 'node:fs';

function read(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'termguard' && pkg.version) return pkg.version;
    } catch { /* try the next place: source tree or dist/ */ }
  }
  return '0.0.0';
}

export const VERSION: string = read();
