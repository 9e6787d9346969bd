/** Placeholder console page until the console issue lands: says what runs and where. */
import type { App as FastifyInstance } from '../../../http/app.js';
import type { ServerContext } from '../../../context.js';

export function homeRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/', async (_req, reply) => {
    const hosts = await ctx.store.listHosts();
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>termguard</title></head>
<body><h1>termguard 证联网终端安全</h1><p>Server running. Enrolled hosts: ${hosts.length}.</p>
<p>The web console arrives in a later release; use <code>termguard-server hosts --json</code> meanwhile.</p></body></html>`;
    return reply.type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'self'")
      .header('x-content-type-options', 'nosniff')
      .send(html);
  });
}
