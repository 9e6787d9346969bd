/**
 * TLS session-ticket keys of the agent listener, kept in the data folder (0600) so that a restarted
 * server — or another server process on the same PostgreSQL database — resumes the sessions its
 * agents hold instead of making a full mutual-TLS handshake for each. Without them a fleet coming
 * back after an outage costs a full handshake per agent (~400/s on two cores), and every CRL update
 * (a new secure context) dropped every session. Rotated daily: tickets under an older key then get
 * a full handshake. Resumption keeps (EC)DHE (TLS 1.3 psk_dhe_ke), so the key on disk does not open
 * recorded traffic; identity and revocation are still checked in the request path.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/fs.js';

/** Node's ticket key: 16 bytes name, 16 HMAC, 16 AES. */
const KEY_BYTES = 48;
const ROTATE_MS = 24 * 3_600_000;

export class TicketKeys {
  private readonly file: string;
  private current: Buffer;
  private mtimeMs = 0;

  constructor(dataDir: string, private readonly now = () => Date.now()) {
    this.file = join(dataDir, 'tls-ticket.key');
    this.current = this.load() ?? this.rotate();
  }

  get keys(): Buffer {
    return this.current;
  }

  /**
   * Called every minute: rotates a key older than a day, or takes up one another process wrote.
   * Returns the keys when they changed (the caller hands them to the listener), else null.
   */
  refresh(): Buffer | null {
    const onDisk = this.load();
    if (onDisk && this.now() - this.mtimeMs < ROTATE_MS) {
      if (onDisk.equals(this.current)) return null;
      this.current = onDisk;
      return onDisk;
    }
    this.current = this.rotate();
    return this.current;
  }

  private load(): Buffer | null {
    try {
      const k = readFileSync(this.file);
      if (k.length !== KEY_BYTES) return null;
      this.mtimeMs = statSync(this.file).mtimeMs;
      return this.now() - this.mtimeMs < ROTATE_MS ? k : null;
    } catch {
      return null;
    }
  }

  private rotate(): Buffer {
    const k = randomBytes(KEY_BYTES);
    writeFileAtomic(this.file, k, 0o600);
    this.mtimeMs = this.now();
    return k;
  }
}
