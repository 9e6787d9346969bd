import type { FastifyInstance, RawServerBase, FastifyBaseLogger } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Both listeners are https fastify instances; routes take either. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type App = FastifyInstance<RawServerBase, IncomingMessage, ServerResponse, FastifyBaseLogger, any>;
