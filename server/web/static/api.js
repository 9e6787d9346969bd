// The console API client: same-origin cookie session, the CSRF token on every state change, and
// the two answers that move the user elsewhere (401 → login, one-time password → password change).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

const state = { csrf: null, onUnauthenticated: () => {}, onPasswordChange: () => {} };

export function setCsrf(token) {
  state.csrf = token || null;
}

export function onAuthProblems(handlers) {
  Object.assign(state, handlers);
}

function url(path, query) {
  if (!query) return path;
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [k, String(v)]));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * One request. `opts.quiet401` leaves a 401 to the caller (the login form shows it as a message).
 * Resolves with the parsed JSON; rejects with an ApiError carrying the server's code and message.
 */
export async function api(method, path, { body, query, quiet401 = false } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && state.csrf) headers['x-csrf-token'] = state.csrf;
  let res;
  try {
    res = await fetch(url(path, query), { method, headers, credentials: 'same-origin', cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', e instanceof Error ? e.message : String(e));
  }
  let data = null;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (res.ok) return data;
  const err = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : `HTTP_${res.status}`;
  const message = typeof err.message === 'string' ? err.message : res.statusText;
  const e = new ApiError(res.status, code, message);
  if (res.status === 401 && !quiet401) state.onUnauthenticated(e);
  if (res.status === 403 && code === 'TG_E_PASSWORD_CHANGE_REQUIRED') state.onPasswordChange(e);
  throw e;
}

export const get = (path, query) => api('GET', path, { query });
export const post = (path, body = {}) => api('POST', path, { body });
export const put = (path, body = {}) => api('PUT', path, { body });
export const del = (path) => api('DELETE', path);

/** A path with encoded parts: p('/api/hosts', id, 'revoke'). */
export function p(base, ...parts) {
  return [base, ...parts.map((x) => encodeURIComponent(String(x)))].join('/');
}
