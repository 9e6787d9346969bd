/**
 * The ingest baseline (hot path, own process): a bare node:https server with termguard's agent-listener
 * TLS settings that reads the body, parses it and acks every id — no validation, no store; a
 * `GET /v1/commands?wait=S` is held S seconds and answered with no commands (the long-poll baseline).
 * Usage: baseline-server.ts <server.key> <server.crt> <ca.crt>; prints "listening <port>".
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [keyFile, certFile, caFile] = process.argv.slice(2) as [string, string, string];
const server = createServer({
  key: readFileSync(keyFile), cert: readFileSync(certFile), ca: [readFileSync(caFile)],
  minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true,
  keepAliveTimeout: 75_000, requestTimeout: 120_000,
}, (req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/v1/commands')) {
    const wait = Number(new URL(req.url, 'https://x').searchParams.get('wait') ?? 0);
    const answer = () => {
      const out = '{"policyVersion":1,"commands":[]}';
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': out.length });
      res.end(out);
    };
    const onClose = () => clearTimeout(t);
    const t = setTimeout(() => { req.socket.off('close', onClose); answer(); }, Math.min(60, Math.max(0, wait)) * 1000);
    req.socket.once('close', onClose);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: { id: string }[] };
    const out = JSON.stringify({ acked: body.events.map((e) => e.id) });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
