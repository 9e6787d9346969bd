/**
 * Reads a JSON request body with the contract's limits: ≤ 4 MiB on the wire, ≤ 16 MiB inflated,
 * gzip accepted. Every failure is a TgError with its own code; nothing is parsed past a limit.
 */
import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import { TgError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/protocol.js';

export async function readJsonBody(req: IncomingMessage, limits = { wire: LIMITS.maxWireBytes, inflated: LIMITS.maxInflatedBytes }): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.wire) {
    throw new TgError('TG_E_BODY_TOO_LARGE', `request body of ${declared} bytes exceeds ${limits.wire} bytes`);
  }
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let source: Readable = req;
  let wire = 0;
  const counted = (chunk: Buffer) => {
    wire += chunk.length;
    if (wire > limits.wire) req.emit('error', new TgError('TG_E_BODY_TOO_LARGE', `request body exceeds ${limits.wire} bytes`));
  };
  if (encoding === 'gzip' || encoding === 'deflate') {
    const z = encoding === 'gzip' ? createGunzip() : createInflate();
    req.on('data', counted);
    req.on('error', (e) => z.destroy(e));
    source = req.pipe(z);
  } else if (encoding !== 'identity') {
    throw new TgError('TG_E_BAD_ENCODING', `content encoding "${encoding}" is not supported (use gzip or none)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const max = source === req ? limits.wire : limits.inflated;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        throw new TgError('TG_E_BODY_TOO_LARGE', source === req ? `request body exceeds ${limits.wire} bytes` : `inflated body exceeds ${limits.inflated} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof TgError) throw e;
    throw new TgError('TG_E_BAD_ENCODING', `could not read the ${encoding} body: ${(e as Error).message}`);
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new TgError('TG_E_BAD_JSON');
  }
}
