/**
 * A private PostgreSQL cluster for one test file: initdb into a temp folder owned by `postgres`,
 * listening on a free loopback port and a socket in that folder, stopped and deleted afterwards
 * (also when starting fails, and at process exit if the suite never got to its teardown).
 * Without PostgreSQL binaries or root the tests are skipped with the reason printed; on CI they fail.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` — the maintenance database. */
  adminUrl: string;
  /** Create an empty database with a random name; returns its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

interface PgTools { bin: string; uid: number; gid: number }

/** Where the binaries are and whom to run them as, or why PostgreSQL cannot run here. */
export function findPostgres(): PgTools | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'not root: cannot run initdb as the postgres user' };
  let bin = process.env.TG_PG_BIN ?? '';
  if (!bin) {
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
    bin = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) ?? '';
  }
  if (!bin || !existsSync(join(bin, 'initdb'))) {
    return { reason: `PostgreSQL server binaries not found (${bin || '/usr/lib/postgresql/*/bin'}; apt-get install postgresql)` };
  }
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) return { reason: 'no "postgres" user on this machine' };
  const [, , uid, gid] = line.split(':');
  return { bin, uid: Number(uid), gid: Number(gid) };
}

/** The reason to skip, or null when PostgreSQL can run; throws on CI, where nothing may skip. */
export function postgresSkipReason(): string | null {
  const t = findPostgres();
  if (!('reason' in t)) return null;
  if (process.env.CI === 'true') throw new Error(`PostgreSQL tests cannot run on CI: ${t.reason}`);
  console.warn(`skipping PostgreSQL store tests: ${t.reason}`);
  return t.reason;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `durable`: fsync and synchronous commit on, as a production server runs (benchmarks); tests run
 * without them.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PgCluster> {
  const t = findPostgres();
  if ('reason' in t) throw new Error(t.reason);
  const dir = mkdtempSync(join(tmpdir(), 'tg-pg-'));
  const data = join(dir, 'data');
  const as = { uid: t.uid, gid: t.gid, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } };
  let started = false;
  const stopSync = (): void => {
    if (started) {
      try { execFileSync(join(t.bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { ...as, stdio: 'ignore' }); } catch { /* already gone */ }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Last resort if the test process ends without running its teardown: no cluster is left behind.
  process.once('exit', stopSync);
  try {
    chmodSync(dir, 0o700);
    chownSync(dir, t.uid, t.gid);
    await run(join(t.bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], as);
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      // fsync off: a test cluster needs no durability, and it makes CREATE DATABASE and commits cheap.
      const fast = opts.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
      const o = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1${fast} -c max_connections=200 -c shared_buffers=256MB`;
      try {
        await run(join(t.bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-o', o, '-w', '-t', '60', 'start'], as);
        started = true;
        break;
      } catch (e) {
        if (attempt >= 2) {
          let log = '';
          try { log = readFileSync(join(dir, 'log'), 'utf8').slice(-2000); } catch { /* no log */ }
          throw new Error(`pg_ctl start failed: ${(e as Error).message}\n${log}`);
        }
      }
    }
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return {
      adminUrl,
      async createDatabase() {
        const name = `tg_${randomBytes(6).toString('hex')}`;
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      async stop() {
        process.removeListener('exit', stopSync);
        stopSync();
      },
    };
  } catch (e) {
    process.removeListener('exit', stopSync);
    stopSync();
    throw e;
  }
}
