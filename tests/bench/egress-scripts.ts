/**
 * Small CommonJS programs the egress bench runs with `node -e` inside its network namespaces:
 * socket holders, listeners, a connection driver, a churn load and a bare 1 s poller (baseline).
 * Each prints one line per fact it has to report, so the bench reads their stdout line by line.
 */

/** Holds `N` loopback connection pairs (2N sockets) open; prints `ready <port>` once all are accepted. */
export const HOLDER = `
const net = require('net');
const N = Number(process.argv[1]);
const keep = [];
let accepted = 0, connected = 0;
const check = () => { if (accepted === N && connected === N) console.log('ready ' + srv.address().port); };
const srv = net.createServer((s) => { s.on('error', () => {}); keep.push(s); accepted++; check(); });
srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, async () => {
  const port = srv.address().port;
  for (let i = 0; i < N; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, N - i) }, () => new Promise((ok, fail) => {
      const c = net.connect(port, '127.0.0.1', () => { connected++; ok(); });
      c.on('error', fail);
      keep.push(c);
    })));
  }
  check();
});
`;

/**
 * Listeners on every port of [from, to] at `host`; ports ≥ `closeFrom` end the connection at once
 * (the server closes first: no TIME_WAIT on the terminal), the others hold it.
 */
export const LISTENERS = `
const net = require('net');
const { host, from, to, closeFrom } = JSON.parse(process.argv[1]);
let up = 0;
for (let p = from; p <= to; p++) {
  const close = p >= closeFrom;
  const srv = net.createServer((s) => { s.on('error', () => {}); if (close) s.end(); });
  srv.on('error', (e) => { console.log('error ' + p + ' ' + e.code); process.exit(2); });
  srv.listen(p, host, () => { if (++up === to - from + 1) console.log('listening'); });
}
`;

/**
 * Opens one connection per port, `spacingMs` (+ up to `jitterMs`) apart. Prints `open <port> <ms>`
 * (Date.now() at connect), `closed <port> <ms>`, `fail <port> <code>`, then `done` once every
 * connection is open (hold) or over. With `hold` the connections stay until the process is killed.
 */
export const DRIVER = `
const net = require('net');
const o = JSON.parse(process.argv[1]);
const keep = [];
let settled = 0;
const settle = () => { settled++; if (settled === o.ports.length) console.log('done'); };
(async () => {
  for (const port of o.ports) {
    const s = net.connect({ host: o.host, port });
    keep.push(s);
    let opened = 0, over = false;
    const end = () => { if (!over) { over = true; settle(); } };
    const t = setTimeout(() => { console.log('fail ' + port + ' ETIMEDOUT'); s.destroy(); end(); }, 5000);
    s.on('connect', () => { clearTimeout(t); opened = Date.now(); console.log('open ' + port + ' ' + opened); if (o.hold) end(); });
    s.on('error', (e) => { clearTimeout(t); console.log('fail ' + port + ' ' + e.code); end(); });
    s.on('close', () => { clearTimeout(t); if (opened) console.log('closed ' + port + ' ' + Date.now()); end(); });
    s.resume();
    await new Promise((r) => setTimeout(r, o.spacingMs + Math.random() * o.jitterMs));
  }
})();
`;

/**
 * `rate` loopback connections per second for `seconds`, the server closing first; prints
 * `started <ms>`, then `n <closed> <errors> <ms>` every second and `done <opened> <closed> <errors>`.
 */
export const CHURN = `
const net = require('net');
const { rate, seconds } = JSON.parse(process.argv[1]);
let opened = 0, closed = 0, errors = 0;
const srv = net.createServer((s) => { s.on('error', () => {}); s.end(); });
srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const port = srv.address().port;
  const t0 = Date.now();
  console.log('started ' + t0);
  const report = setInterval(() => console.log('n ' + closed + ' ' + errors + ' ' + Date.now()), 1000);
  const tick = setInterval(() => {
    const el = Date.now() - t0;
    if (el >= seconds * 1000) {
      clearInterval(tick);
      setTimeout(() => { clearInterval(report); console.log('done ' + opened + ' ' + closed + ' ' + errors); srv.close(); }, 500);
      return;
    }
    const want = Math.floor((rate * el) / 1000) - opened;
    for (let i = 0; i < want; i++) {
      opened++;
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => { errors++; });
      c.on('close', () => { closed++; });
      c.resume();
    }
  }, 5);
});
`;

/**
 * The floor of poll-based detection: read /proc/net/tcp every `everyMs` (as the agent's default poll)
 * and print `seen <port> <ms>` the first time a remote port in [from, to] shows up.
 */
export const POLLER = `
const fs = require('fs');
const { from, to, everyMs } = JSON.parse(process.argv[1]);
const seen = new Set();
const poll = () => {
  const now = Date.now();
  const text = fs.readFileSync('/proc/net/tcp', 'latin1');
  for (const line of text.split('\\n').slice(1)) {
    const f = line.trim().split(/\\s+/);
    if (f.length < 4) continue;
    const port = parseInt(f[2].slice(9), 16);
    if (port >= from && port <= to && !seen.has(port)) { seen.add(port); console.log('seen ' + port + ' ' + now); }
  }
};
poll();
setInterval(poll, everyMs);
console.log('polling');
`;

/** The floor of the agent's table poll: read /proc/net/{tcp,tcp6,udp,udp6} every `everyMs`, no parsing. */
export const READER = `
const fs = require('fs');
const everyMs = Number(process.argv[1]);
setInterval(() => { for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) fs.readFileSync('/proc/net/' + f); }, everyMs);
`;

/** The floor of the agent's socket event source: `stdbuf -oL ss -E -tunH` read line by line, lines only counted (`lines <n>` on SIGTERM). */
export const EVENTS = `
const { spawn } = require('child_process');
const c = spawn('stdbuf', ['-oL', 'ss', '-E', '-tunH'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
let n = 0, rest = '';
c.stdout.setEncoding('utf8');
c.stdout.on('data', (d) => { const parts = (rest + d).split('\\n'); rest = parts.pop(); n += parts.length; });
process.on('SIGTERM', () => { c.kill(); console.log('lines ' + n); process.exit(0); });
setInterval(() => {}, 60000);
`;
