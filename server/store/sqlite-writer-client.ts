/** The server's side of the writer thread: one promise per request, settled after its commit. */
import { Worker } from 'node:worker_threads';
import { TgError } from '../../shared/errors.js';
import type { WriteRequest, WriteResult } from './sqlite-writer.js';

/** What the writer thread answers per request, in arrays (one per group commit). */
interface Answer { seq: number; result?: WriteResult; error?: string }

export class WriterThread {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: WriteResult) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  private outbox: { seq: number; req: WriteRequest }[] = [];

  private readonly checkpointer: Worker;

  constructor(file: string) {
    this.worker = startWorker({ file, role: 'writer' });
    this.checkpointer = startWorker({ file, role: 'checkpointer' });
    this.checkpointer.on('error', () => { /* checkpoints are an optimisation; SQLite still works without them */ });
    this.worker.on('message', (m: Answer[] | 'closed') => {
      if (m === 'closed') return;
      for (const a of m) {
        const p = this.pending.get(a.seq);
        if (!p) continue;
        this.pending.delete(a.seq);
        if (a.error !== undefined) p.reject(new TgError('TG_E_STORE', `event writer: ${a.error}`));
        else p.resolve(a.result!);
      }
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(new TgError('TG_E_STORE', `event writer stopped: ${e.message}`));
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  write(req: WriteRequest): Promise<WriteResult> {
    if (this.dead) return Promise.reject(new TgError('TG_E_STORE', `event writer stopped: ${this.dead.message}`));
    return new Promise((resolve, reject) => {
      const seq = ++this.seq;
      this.pending.set(seq, { resolve, reject });
      this.outbox.push({ seq, req });
      if (this.outbox.length === 1) setImmediate(this.send);
    });
  }

  /**
   * The requests of one event-loop turn go to the writer in one message (one copy, one wake-up of
   * its thread): a fleet reconnecting at once brings dozens of heartbeats per turn.
   */
  private readonly send = () => {
    const batch = this.outbox;
    this.outbox = [];
    if (this.dead) {
      for (const m of batch) {
        this.pending.get(m.seq)?.reject(new TgError('TG_E_STORE', `event writer stopped: ${this.dead.message}`));
        this.pending.delete(m.seq);
      }
      return;
    }
    this.worker.postMessage(batch);
  };

  async close(): Promise<void> {
    const cpDone = new Promise<void>((resolve) => this.checkpointer.once('exit', () => resolve()));
    this.checkpointer.postMessage('close');
    await cpDone;
    if (this.dead) return;
    if (this.outbox.length) this.send(); // what this turn wrote goes in before the close
    const closed = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('close');
    const t = setTimeout(() => void this.worker.terminate(), 10_000);
    await closed;
    clearTimeout(t);
  }
}

/** Built, the worker is plain JS. From sources (tests run TypeScript), it registers tsx first. */
function startWorker(workerData: { file: string; role: 'writer' | 'checkpointer' }): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./sqlite-writer-worker.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(new URL('./sqlite-writer-worker.js', import.meta.url), { workerData });
}
