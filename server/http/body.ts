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
  const max = source === req ? limits.wire : limits.inflated;
  const text = await collect(source, max, () => new TgError('TG_E_BODY_TOO_LARGE', source === req
    ? `request body exceeds ${limits.wire} bytes` : `inflated body exceeds ${limits.inflated} bytes`), encoding);
  try {
    return JSON.parse(text);
  } catch {
    throw new TgError('TG_E_BAD_JSON');
  }
}

/**
 * The stream's bytes as UTF-8, refused past `max` (the stream is then destroyed, as a consumer that
 * stops reading must). Listeners, not `for await`: every agent request comes through here, and the
 * async iterator's promise per chunk and end-of-stream bookkeeping cost more than the read itself.
 */
function collect(source: Readable, max: number, tooLarge: () => TgError, encoding: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: TgError | null) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      if (err) {
        source.destroy();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks, size).toString('utf8'));
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (e: Error) => finish(e instanceof TgError ? e : new TgError('TG_E_BAD_ENCODING', `could not read the ${encoding} body: ${e.message}`));
    const onClose = () => finish(new TgError('TG_E_BAD_ENCODING', `could not read the ${encoding} body: the connection closed before its end`));
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    source.on('close', onClose);
  });
}
