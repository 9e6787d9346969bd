/**
 * `termguard-server backup` and `restore` (issue 7): an online, consistent copy of the data
 * directory — the SQLite store through SQLite's backup API (or `pg_dump` for PostgreSQL), the config,
 * the server certificate and key, and the CA key and certificate — in one file encrypted with
 * AES-256-GCM under a key derived by scrypt from a passphrase. The CA key never leaves in the clear;
 * a backup without a passphrase is refused. Restore decrypts into a temporary folder, checks the
 * authentication tag and every file's SHA-256 before anything is moved into place.
 *
 * Format: `TGBACKUP1\n`, one line of JSON (kdf parameters, salt, IV, the file list with sizes and
 * hashes), the ciphertext of the files one after another, the 16-byte GCM tag.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, fstatSync, fsyncSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import Database from 'better-sqlite3';
import { TgError } from '../shared/errors.js';
import { ensureDir } from '../shared/fs.js';
import { dataPaths } from './config.js';

const MAGIC = 'TGBACKUP1\n';
const KDF = { N: 1 << 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 };

interface Header {
  created: string;
  kdf: { alg: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { alg: 'aes-256-gcm'; iv: string };
  store: 'sqlite' | 'postgres';
  files: { name: string; size: number; sha256: string }[];
}

const FILES = ['config.json', 'ca.crt', 'ca.key', 'server.crt', 'server.key'];

function key(passphrase: string, salt: Buffer, k = KDF): Buffer {
  if (passphrase.length < 12) throw new TgError('TG_E_USAGE', 'the backup passphrase must be at least 12 characters');
  return scryptSync(passphrase.normalize('NFC'), salt, 32, k);
}

function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Consistent copies of what to back up, in a private temporary folder. */
async function snapshot(dataDir: string, storeUrl: string | undefined, tmp: string): Promise<{ store: Header['store']; names: string[] }> {
  const p = dataPaths(dataDir);
  for (const f of FILES) {
    if (!existsSync(join(dataDir, f))) throw new TgError('TG_E_NO_CA', `${join(dataDir, f)} is missing: not a termguard data directory`);
  }
  const names = [...FILES];
  for (const f of FILES) writeCopy(join(dataDir, f), join(tmp, f));
  if (storeUrl && /^postgres(ql)?:\/\//.test(storeUrl)) {
    // pg_dump gives a consistent snapshot of a live database (one transaction).
    try {
      execFileSync('pg_dump', ['--format=custom', '--no-owner', `--file=${join(tmp, 'store.pgdump')}`, storeUrl], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new TgError('TG_E_STORE', `pg_dump failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).replace(/postgres(ql)?:\/\/\S+/g, '<url>').slice(0, 300)}`);
    }
    names.push('store.pgdump');
    return { store: 'postgres', names };
  }
  // VACUUM INTO copies the database as one read transaction: consistent while the server keeps
  // writing (the page-by-page backup API restarts every time another connection writes).
  const db = new Database(p.sqlite, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('VACUUM INTO ?').run(join(tmp, 'termguard.db'));
  } finally {
    db.close();
  }
  names.push('termguard.db');
  return { store: 'sqlite', names };
}

function writeCopy(from: string, to: string): void {
  const data = readFileSync(from);
  const fd = openSync(to, 'w', 0o600);
  try { writeSync(fd, data); } finally { closeSync(fd); }
}

export async function backup(o: { dataDir: string; storeUrl?: string; out: string; passphrase: string }): Promise<{ bytes: number; files: Header['files'] }> {
  const tmp = mkdtempSync(join(dirname(o.out), '.tg-backup-'));
  const partial = `${o.out}.partial`;
  try {
    const { store, names } = await snapshot(o.dataDir, o.storeUrl, tmp);
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const header: Header = {
      created: new Date().toISOString(), kdf: { alg: 'scrypt', N: KDF.N, r: KDF.r, p: KDF.p, salt: salt.toString('base64') },
      cipher: { alg: 'aes-256-gcm', iv: iv.toString('base64') }, store,
      files: names.map((name) => ({ name, size: statSync(join(tmp, name)).size, sha256: sha256File(join(tmp, name)) })),
    };
    const headerLine = JSON.stringify(header) + '\n';
    const cipher = createCipheriv('aes-256-gcm', key(o.passphrase, salt), iv);
    cipher.setAAD(Buffer.from(MAGIC + headerLine)); // the header is authenticated too
    const out = createWriteStream(partial, { mode: 0o600 });
    out.write(MAGIC + headerLine);
    for (const f of header.files) {
      await pipeline(createReadStream(join(tmp, f.name)), new Transform({ transform(chunk: Buffer, _e, cb) { cb(null, cipher.update(chunk)); } }), out, { end: false });
    }
    const tail = cipher.final();
    await new Promise<void>((resolve, reject) => out.end(Buffer.concat([tail, cipher.getAuthTag()]), () => resolve()).once('error', reject));
    const fd = openSync(partial, 'r+');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(partial, o.out);
    return { bytes: statSync(o.out).size, files: header.files };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
}

/** Read the header (unauthenticated until the tag checks; used to tell what a file is). */
function readHeader(file: string): { header: Header; headerBytes: Buffer; size: number } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, 1 << 20));
    readSync(fd, buf, 0, buf.length, 0);
    if (buf.subarray(0, MAGIC.length).toString() !== MAGIC) throw new TgError('TG_E_USAGE', `${file} is not a termguard backup`);
    const nl = buf.indexOf(10, MAGIC.length);
    if (nl < 0) throw new TgError('TG_E_USAGE', `${file}: damaged header`);
    const header = JSON.parse(buf.subarray(MAGIC.length, nl).toString()) as Header;
    return { header, headerBytes: buf.subarray(0, nl + 1), size };
  } finally {
    closeSync(fd);
  }
}

export async function restore(o: { dataDir: string; file: string; passphrase: string; storeUrl?: string; force?: boolean }): Promise<{ files: string[] }> {
  const { header, headerBytes, size } = readHeader(o.file);
  const dataExists = existsSync(o.dataDir) && readdirSync(o.dataDir).length > 0;
  if (dataExists && !o.force) throw new TgError('TG_E_USAGE', `${o.dataDir} is not empty; stop the server and pass --force to replace its contents`);
  const k = key(o.passphrase, Buffer.from(header.kdf.salt, 'base64'), { N: header.kdf.N, r: header.kdf.r, p: header.kdf.p, maxmem: KDF.maxmem });
  const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(header.cipher.iv, 'base64'));
  decipher.setAAD(headerBytes);
  const tag = Buffer.alloc(16);
  const fd = openSync(o.file, 'r');
  readSync(fd, tag, 0, 16, size - 16);
  closeSync(fd);
  decipher.setAuthTag(tag);
  ensureDir(o.dataDir, 0o700);
  const tmp = mkdtempSync(join(o.dataDir, '.tg-restore-'));
  try {
    // Stream the ciphertext into the files in order.
    let idx = 0;
    let left = header.files[0]?.size ?? 0;
    let outFd = header.files.length ? openSync(join(tmp, header.files[0]!.name), 'w', 0o600) : -1;
    const writePlain = (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        while (left === 0 && idx < header.files.length - 1) {
          closeSync(outFd);
          idx++;
          left = header.files[idx]!.size;
          outFd = openSync(join(tmp, basename(header.files[idx]!.name)), 'w', 0o600);
        }
        const n = Math.min(left, chunk.length - off);
        if (n === 0) throw new TgError('TG_E_USAGE', 'backup holds more data than its header lists');
        writeSync(outFd, chunk, off, n);
        off += n;
        left -= n;
      }
    };
    await pipeline(createReadStream(o.file, { start: headerBytes.length, end: size - 17 }), new Transform({
      transform(chunk: Buffer, _e, cb) {
        try { writePlain(decipher.update(chunk)); cb(); } catch (e) { cb(e as Error); }
      },
    }));
    try {
      writePlain(decipher.final());
    } catch (e) {
      if (e instanceof TgError) throw e;
      throw new TgError('TG_E_USAGE', 'wrong passphrase, or the backup was modified (authentication failed)');
    } finally {
      if (outFd >= 0) closeSync(outFd);
    }
    for (const f of header.files) {
      if (!/^[a-z0-9.]+$/.test(f.name) || sha256File(join(tmp, f.name)) !== f.sha256) throw new TgError('TG_E_USAGE', `backup file ${f.name} does not match its hash`);
    }
    if (header.store === 'postgres') {
      if (!o.storeUrl) throw new TgError('TG_E_USAGE', 'this backup holds a PostgreSQL store: pass --store postgres://…');
      try {
        execFileSync('pg_restore', ['--clean', '--if-exists', '--no-owner', `--dbname=${o.storeUrl}`, join(tmp, 'store.pgdump')], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        throw new TgError('TG_E_STORE', `pg_restore failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).replace(/postgres(ql)?:\/\/\S+/g, '<url>').slice(0, 300)}`);
      }
    }
    for (const f of header.files) {
      if (f.name === 'store.pgdump') continue;
      if (f.name === 'termguard.db') for (const x of ['termguard.db-wal', 'termguard.db-shm']) rmSync(join(o.dataDir, x), { force: true });
      renameSync(join(tmp, f.name), join(o.dataDir, f.name));
    }
    return { files: header.files.map((f) => f.name) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
