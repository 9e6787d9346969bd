/** /api/openapi.json: the console API described from the route table itself (OpenAPI 3.1). */
import type { RouteDef } from './index.js';

export function openApi(routes: RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      'x-termguard-permission': r.perm,
      ...(params.length ? { parameters: params } : {}),
      security: r.perm === 'public' ? [] : [{ session: [] }, { bearer: [] }],
      responses: {
        200: { description: 'OK (lists are {"items":[…],"total":N})' },
        ...(r.perm === 'public' ? {} : { 401: { description: 'login required' }, 403: { description: 'wrong role, missing X-CSRF-Token, or one-time password not changed' } }),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'termguard console API', version: '1' },
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'tg_session', description: 'from POST /api/login; state changes need X-CSRF-Token from GET /api/session' },
        bearer: { type: 'http', scheme: 'bearer', description: 'API token with a role' },
      },
    },
    paths,
  };
}
