/**
 * Worker thread around EventWriter. Requests that arrive while a transaction runs are queued and
 * committed together in the next one (group commit); each answer goes back after its commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EventWriter, type WriteRequest } from './sqlite-writer.js';

interface Message { seq: number; req: WriteRequest }

const writer = new EventWriter((workerData as { file: string }).file, true);
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

const idle = setInterval(() => { try { writer.checkpoint(); } catch { /* next time */ } }, 5000);

parentPort!.on('message', (m: Message | 'close') => {
  if (m === 'close') {
    if (queue.length) flush();
    clearInterval(idle);
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
