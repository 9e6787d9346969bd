/**
 * The web console's files: one page, its script, style and translations, from `server/web/static`.
 * Only the files listed there are served (no path from the URL reaches the file system), with a
 * strict Content-Security-Policy: scripts from this origin only, no inline script, no framing.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../../../http/app.js';

export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

/** The package root (where package.json is), from wherever this module runs (source or dist). */
function staticDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'server/web/static');
    dir = dirname(dir);
  }
  throw new Error('cannot find the console files (server/web/static)');
}

export function webRoutes(app: App): void {
  const dir = staticDir();
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    const ext = f.slice(f.lastIndexOf('.'));
    if (TYPES[ext]) files.set(f, { type: TYPES[ext], body: readFileSync(join(dir, f)) });
  }
  const headers = {
    'content-security-policy': CONSOLE_CSP, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer', 'strict-transport-security': 'max-age=31536000', 'cross-origin-opener-policy': 'same-origin',
  };
  const send = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const f = files.get(name);
    if (!f) return reply.code(404).send({ error: { code: 'TG_E_NOT_FOUND', message: `no console file ${name}` } });
    return reply.headers(headers).header('cache-control', name === 'index.html' ? 'no-store' : 'no-cache').type(f.type).send(f.body);
  };
  app.get('/', send('index.html'));
  app.get('/assets/:file', async (req, reply) => send((req.params as { file: string }).file)(req, reply));
}
