/**
 * Worker threads of the SQLite store. Role `writer`: requests that arrive while a transaction
 * runs are queued and committed together in the next one (group commit); each answer goes back
 * after its commit. Role `checkpointer`: checkpoints the WAL from its own connection whenever it passes 32 MiB.
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Checkpointer, EventWriter, type WriteRequest } from './sqlite-writer.js';

interface Message { seq: number; req: WriteRequest }

const CHECKPOINT_AT_BYTES = 32 * 1024 * 1024;

const { file, role } = workerData as { file: string; role: 'writer' | 'checkpointer' };
if (role === 'checkpointer') runCheckpointer();
else runWriter();

function runCheckpointer(): void {
  const c = new Checkpointer(file);
  // Checkpoint by WAL size, not by clock: hot index pages rewritten many times are copied once.
  const timer = setInterval(() => {
    try {
      if (statSync(`${file}-wal`).size > CHECKPOINT_AT_BYTES) c.checkpoint();
    } catch { /* no WAL yet, or busy: next time */ }
  }, 250);
  parentPort!.on('message', (m: unknown) => {
    if (m !== 'close') return;
    clearInterval(timer);
    c.close();
    parentPort!.postMessage('closed');
    setImmediate(() => process.exit(0));
  });
}

function runWriter(): void {
const writer = new EventWriter(file, true);
let queue: Message[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  try {
    const results = writer.write(batch.map((m) => m.req));
    batch.forEach((m, i) => parentPort!.postMessage({ seq: m.seq, result: results[i] }));
  } catch (e) {
    for (const m of batch) parentPort!.postMessage({ seq: m.seq, error: (e as Error).message });
  }
}

parentPort!.on('message', (m: Message | 'close') => {
  if (m === 'close') {
    if (queue.length) flush();
    writer.close();
    parentPort!.postMessage('closed');
    setImmediate(() => process.exit(0));
    return;
  }
  queue.push(m);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
}
