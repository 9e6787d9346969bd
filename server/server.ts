/**
 * The server: two listeners over one store.
 *  - agent listener: mutual TLS only (client certificate from the institution CA, CRL-checked);
 *  - console listener: HTTPS with the server certificate; enrollment, CA download, console.
 * The agent API is its own fastify instance, so its hooks never reach console routes.
 */
import { closeSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyListenOptions } from 'fastify';
import type { App } from './http/app.js';
import pino, { type Logger } from 'pino';
import { dataPaths, loadConfig, urlHost, type ServerConfig } from './config.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { Revocations } from './revocation.js';
import { CommandHub } from './commands-hub.js';
import type { ServerContext } from './context.js';
import { installErrorHandling } from './http/errors.js';
import { readJsonBody } from './http/body.js';
import { identify } from './routes/agent/identity.js';
import { eventsRoute } from './routes/agent/events/index.js';
import { policyRoute } from './routes/agent/policy/index.js';
import { commandsRoute } from './routes/agent/commands/index.js';
import { renewRoute } from './routes/agent/renew/index.js';
import { caRoute } from './routes/console/ca/index.js';
import { enrollRoutes } from './routes/console/enroll/index.js';
import { webRoutes } from './routes/console/web/index.js';
import { consoleApi } from './routes/console/api/index.js';
import { startEscalation, sweepViolations } from './violations.js';
import { startAlerting } from './alerting.js';
import { Admission, Metrics } from './metrics.js';
import { opsRoutes } from './routes/console/ops/index.js';
import { startRetention } from './retention.js';
import { OfflineWatch } from './offline.js';
import { TicketKeys } from './ticket-keys.js';
import { tuneMalloc } from './malloc.js';
import { listenShared, sharedListenUnavailable } from './listen.js';

export interface StartOptions {
  dataDir: string;
  storeUrl?: string;
  agentPort?: number;
  consolePort?: number;
  bind?: string;
  logger?: Logger;
  /** Overrides of the data directory's config (tests: fast revocation polling). */
  overrides?: Partial<ServerConfig>;
}

export interface RunningServer {
  agentUrl: string;
  consoleUrl: string;
  agentPort: number;
  consolePort: number;
  ctx: ServerContext;
  close(): Promise<void>;
}

const TLS_BASE = { minVersion: 'TLSv1.2' as const };
const AGENT_KEEP_ALIVE_MS = 75_000;
const AGENT_REQUEST_TIMEOUT_MS = 120_000;
/**
 * Connections the kernel may hold for the agent listener before the server accepts them (capped by
 * net.core.somaxconn, 4096 on current kernels). Node's default of 511 overflows when thousands of
 * agents come back at once after an outage: the kernel then drops their handshakes and each agent
 * waits out TCP's retransmission backoff (1, 3, 7, 15 s …) before it is even seen.
 */
const AGENT_LISTEN_BACKLOG = 4096;

function jsonParser(app: App): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (req, _payload, done) => {
    readJsonBody(req.raw).then((v) => done(null, v), (e: Error) => done(e, undefined));
  });
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const fileConfig = loadConfig(opts.dataDir);
  const config: ServerConfig = {
    ...fileConfig, ...opts.overrides,
    ...(opts.agentPort !== undefined ? { agentPort: opts.agentPort } : {}),
    ...(opts.consolePort !== undefined ? { consolePort: opts.consolePort } : {}),
    ...(opts.bind !== undefined ? { bind: opts.bind } : {}),
  };
  const log = opts.logger ?? pino({ level: process.env.TERMGUARD_LOG_LEVEL ?? 'info' });
  // Before the listeners: the thresholds apply to buffers allocated from now on.
  const malloc = config.mallocTuning ? tuneMalloc(log) : null;
  const p = dataPaths(opts.dataDir);
  const ca = { keyPem: readFileSync(p.caKey, 'utf8'), certPem: readFileSync(p.caCert, 'utf8') };
  const server = { keyPem: readFileSync(p.serverKey, 'utf8'), certPem: readFileSync(p.serverCert, 'utf8') };
  const store: Store = await openStore(opts.dataDir, opts.storeUrl, { writerThread: true });
  const revocations = new Revocations(store, ca, log, config.revocationPollSeconds * 1000);
  const hub = CommandHub.forStore(store);
  const metrics = new Metrics();
  metrics.malloc = malloc;
  const ctx: ServerContext = { store, ca, server, config, revocations, hub, log, metrics, admission: new Admission(metrics, config.maxInflightEvents) };

  await revocations.start();
  hub.start();
  const stopRetention = startRetention(store, config.retentionDays, log);
  const stopAlerting = await startAlerting(ctx);
  // Violations whose events were committed just before a crash are derived now (idempotent).
  await sweepViolations(ctx).catch((err: unknown) => log.error({ err }, 'violation sweep failed'));
  const stopEscalation = startEscalation(ctx);
  const stopOffline = new OfflineWatch(ctx).start(config.offlineCheckSeconds * 1000);

  const tickets = new TicketKeys(opts.dataDir);
  const agentTls = () => ({
    ...TLS_BASE, key: server.keyPem, cert: server.certPem, ca: [ca.certPem], crl: revocations.crl,
    requestCert: true, rejectUnauthorized: true, ticketKeys: tickets.keys,
  });
  const agentApp = Fastify({
    loggerInstance: log.child({ listener: 'agent' }) as FastifyBaseLogger,
    https: agentTls(),
    keepAliveTimeout: AGENT_KEEP_ALIVE_MS,
    requestTimeout: AGENT_REQUEST_TIMEOUT_MS,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024 * 1024,
  });
  installErrorHandling(agentApp);
  jsonParser(agentApp);
  agentApp.decorateRequest('agent', null as never);
  agentApp.addHook('onRequest', async (req) => {
    req.agent = await identify(ctx, req);
  });
  eventsRoute(agentApp, ctx);
  policyRoute(agentApp, ctx);
  commandsRoute(agentApp, ctx);
  renewRoute(agentApp, ctx);

  const consoleApp = Fastify({
    loggerInstance: log.child({ listener: 'console' }) as FastifyBaseLogger,
    https: { ...TLS_BASE, key: server.keyPem, cert: server.certPem },
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrorHandling(consoleApp);
  jsonParser(consoleApp);
  caRoute(consoleApp, ctx);
  enrollRoutes(consoleApp, ctx);
  consoleApi(consoleApp, ctx);
  opsRoutes(consoleApp, ctx);
  webRoutes(consoleApp);

  const closers: (() => Promise<void>)[] = [];
  let ticketTimer: NodeJS.Timeout | undefined;
  /** fastify's own server on one socket, or one plain https server per shared socket. */
  const agentServers: HttpsServer[] = [];
  try {
    agentServers.push(...await listenAgents(agentApp, config, agentTls, log));
    closers.push(() => closeAgents(agentApp, agentServers));
    for (const agentServer of agentServers) {
      agentServer.on('secureConnection', (s: TLSSocket) => {
        revocations.track(s);
        metrics.counters.agentHandshakes++;
        if (s.isSessionReused()) metrics.counters.agentHandshakesResumed++;
      });
    }
    revocations.onCrl(() => { for (const s of agentServers) s.setSecureContext(agentTls()); });
    ticketTimer = setInterval(() => {
      try {
        const k = tickets.refresh();
        if (k) for (const s of agentServers) s.setTicketKeys(k);
      } catch (err) {
        log.warn({ err }, 'TLS ticket key refresh failed; keeping the current key');
      }
    }, 60_000);
    ticketTimer.unref();
    closers.push(async () => clearInterval(ticketTimer));
    await consoleApp.listen({ port: config.consolePort, host: config.bind });
    closers.push(() => consoleApp.close());
  } catch (e) {
    for (const c of closers.reverse()) await c();
    revocations.stop();
    hub.stop();
    stopRetention();
    stopEscalation();
    stopOffline();
    malloc?.stop();
    await stopAlerting();
    await store.close();
    throw e;
  }
  const agentPort = (agentServers[0]!.address() as { port: number }).port;
  const consolePort = (consoleApp.server.address() as { port: number }).port;
  ctx.config = { ...config, agentPort, consolePort };
  const host = urlHost(config.bind);
  return {
    agentUrl: `https://${host}:${agentPort}`,
    consoleUrl: `https://${host}:${consolePort}`,
    agentPort,
    consolePort,
    ctx,
    async close() {
      clearInterval(ticketTimer);
      revocations.stop();
      hub.stop();
      stopRetention();
      stopEscalation();
      stopOffline();
      malloc?.stop();
      metrics.close();
      await Promise.all([closeAgents(agentApp, agentServers), consoleApp.close()]);
      await stopAlerting();
      await store.close();
    },
  };
}

/**
 * Listen on the agent port: `agentAcceptSockets` sockets sharing it where the platform allows
 * (server/listen.ts), a plain https server on each, all routed into the one fastify instance with
 * the same TLS, timeouts and hooks; else fastify's own server on one socket.
 */
async function listenAgents(app: App, config: ServerConfig, tls: () => HttpsOptions, log: Logger): Promise<HttpsServer[]> {
  const why = sharedListenUnavailable(config.bind, config.agentAcceptSockets);
  if (why) {
    if (config.agentAcceptSockets > 1) log.warn(`agent listener: one accepting socket (${why})`);
    await app.listen({ port: config.agentPort, host: config.bind, backlog: AGENT_LISTEN_BACKLOG });
    return [app.server as unknown as HttpsServer];
  }
  const { fds } = listenShared(config.bind, config.agentPort, AGENT_LISTEN_BACKLOG, config.agentAcceptSockets);
  // One plain https server per socket, each routed into fastify (whose own server does not listen:
  // fastify hands net.Server#listen an options object, and Node takes a descriptor's backlog only
  // as a separate argument; it calls listen(2) again with 511 otherwise).
  await app.ready();
  // fastify's own answer to a malformed request (400/408/431, then close), as on its server.
  const clientError = (app.server as unknown as HttpsServer).listeners('clientError') as ((err: Error, socket: Duplex) => void)[];
  const servers: HttpsServer[] = [];
  try {
    for (const fd of fds) {
      const s = createHttpsServer(tls(), app.routing);
      s.keepAliveTimeout = AGENT_KEEP_ALIVE_MS;
      s.requestTimeout = AGENT_REQUEST_TIMEOUT_MS;
      for (const l of clientError) s.on('clientError', l);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ fd }, AGENT_LISTEN_BACKLOG, () => { s.off('error', reject); resolve(); });
      });
      servers.push(s);
    }
    return servers;
  } catch (e) {
    for (const s of servers) s.close();
    // The sockets no server took over (the one whose listen failed may be Node's now: left alone).
    for (const fd of fds.slice(servers.length + 1)) closeSync(fd);
    throw e;
  }
}

/**
 * Close the agent listener's servers and their connections. fastify closes its own server (the
 * listening one, or idle when the shared sockets have servers of their own); the others close here.
 */
async function closeAgents(app: App, servers: HttpsServer[]): Promise<void> {
  const own = app.server as unknown as HttpsServer;
  for (const s of servers) s.closeAllConnections();
  await Promise.all([app.close(), ...servers.filter((s) => s !== own).map((s) => new Promise((r) => s.close(r)))]);
}
