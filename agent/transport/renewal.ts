/**
 * Keeps the agent's certificate valid: renewed over mutual TLS when a third of its lifetime is
 * left; if it already expired (the agent was offline), recovered with the renewal secret and the
 * same key on the console listener, without a new token. The key never changes or leaves.
 */
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import type { Logger } from 'pino';
import type { Part } from '../supervisor.js';
import { certInfo, makeCsr } from '../../shared/pki.js';
import { writeFileAtomic } from '../../shared/fs.js';
import { statePaths } from '../state.js';
import type { AgentClient } from './client.js';
import { Backoff, sleep } from './backoff.js';

export class Renewer implements Part {
  readonly name = 'renewal';
  private wakeUp: (() => void) | null = null;

  constructor(
    private readonly stateDir: string,
    private readonly client: () => AgentClient,
    private readonly checkEveryMs: number,
    private readonly onRenewed: () => void,
    private readonly log: Logger,
  ) {}

  /** Something suggested our certificate is no good: check now. */
  checkNow(): void {
    this.wakeUp?.();
  }

  /** Seconds until the certificate expires, and whether it is due for renewal. */
  due(now = Date.now()): { expired: boolean; due: boolean; notAfter: Date } {
    const info = certInfo(readFileSync(statePaths(this.stateDir).cert, 'utf8'));
    const life = info.notAfter.getTime() - info.notBefore.getTime();
    const left = info.notAfter.getTime() - now;
    return { expired: left <= 0, due: left < life / 3, notAfter: info.notAfter };
  }

  async renewOnce(force = false): Promise<boolean> {
    const d = this.due();
    if (!d.due && !force) return false;
    const p = statePaths(this.stateDir);
    const keyPem = readFileSync(p.key, 'utf8');
    const csr = makeCsr(keyPem, createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString(), 'termguard-agent');
    if (d.expired) {
      const r = await this.client().recover(csr, readFileSync(p.secret, 'utf8').trim());
      // The server rotated the secret: keep the new one before the certificate, so a crash between
      // the two writes still leaves a working secret.
      writeFileAtomic(p.secret, r.renewalSecret, 0o600);
      writeFileAtomic(p.cert, r.certificate, 0o644);
      this.log.info({ notAfter: r.notAfter }, 'expired certificate recovered with the renewal secret');
    } else {
      const r = await this.client().renew(csr);
      writeFileAtomic(p.cert, r.certificate, 0o644);
      this.log.info({ notAfter: r.notAfter }, 'certificate renewed');
    }
    this.onRenewed();
    return true;
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(5000, this.checkEveryMs);
    while (!signal.aborted) {
      let wait = this.checkEveryMs;
      try {
        await this.renewOnce();
        backoff.reset();
      } catch (err) {
        wait = backoff.next();
        this.log.warn({ err: (err as Error).message, waitMs: Math.round(wait) }, 'certificate renewal failed');
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        void sleep(wait, signal).then(resolve);
      });
      this.wakeUp = null;
    }
  }
}
