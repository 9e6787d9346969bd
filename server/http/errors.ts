/** One error handler for both listeners: a stable code, a message a person can act on, no stack. */
import type { FastifyError } from 'fastify';
import type { App as FastifyInstance } from './app.js';
import { TgError, errorBody } from '../../shared/errors.js';

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | TgError, req, reply) => {
    if (err instanceof TgError) {
      void reply.code(err.status).send(err.toJSON());
      return;
    }
    const code = (err as FastifyError).code;
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send(errorBody('TG_E_CONTENT_TYPE'));
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(errorBody('TG_E_BODY_TOO_LARGE'));
    if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (err as SyntaxError).name === 'SyntaxError') {
      return reply.code(400).send(errorBody('TG_E_BAD_JSON'));
    }
    if ((err as FastifyError).validation) return reply.code(400).send(errorBody('TG_E_BAD_ENVELOPE', err.message));
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) return reply.code(status).send(errorBody('TG_E_BAD_ENVELOPE', err.message));
    req.log.error({ err }, 'request failed');
    return reply.code(500).send(errorBody('TG_E_INTERNAL'));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('TG_E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
