/** The server's side of the writer thread: one promise per request, settled after its commit. */
import { Worker } from 'node:worker_threads';
import { TgError } from '../../shared/errors.js';
import type { WriteRequest, WriteResult } from './sqlite-writer.js';

export class WriterThread {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: WriteResult) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  private readonly checkpointer: Worker;

  constructor(file: string) {
    this.worker = startWorker({ file, role: 'writer' });
    this.checkpointer = startWorker({ file, role: 'checkpointer' });
    this.checkpointer.on('error', () => { /* checkpoints are an optimisation; SQLite still works without them */ });
    this.worker.on('message', (m: { seq: number; result?: WriteResult; error?: string } | 'closed') => {
      if (m === 'closed') return;
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.error !== undefined) p.reject(new TgError('TG_E_STORE', `event writer: ${m.error}`));
      else p.resolve(m.result!);
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
      this.worker.postMessage({ seq, req });
    });
  }

  async close(): Promise<void> {
    const cpDone = new Promise<void>((resolve) => this.checkpointer.once('exit', () => resolve()));
    this.checkpointer.postMessage('close');
    await cpDone;
    if (this.dead) return;
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
