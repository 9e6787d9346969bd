/** Shared by the Windows and macOS USB tests: a recording table runner and a fake long-lived child. */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Runner } from '../../../agent/exec.js';
import type { WatchChild } from '../../../agent/collectors/usb/watch-win32.js';
import { tableRunner } from '../../helpers/fixture-context.js';

type Table = Parameters<typeof tableRunner>[0];

/** tableRunner that also records each call's exact argument array. */
export function recordingRunner(table: Table, read?: Parameters<typeof tableRunner>[1]): Runner & { argv: string[][] } {
  const base = tableRunner(table, read);
  const argv: string[][] = [];
  const run: Runner = (cmd, args, opts) => { argv.push([cmd, ...args]); return base(cmd, args, opts); };
  return Object.assign(run, { argv });
}

export class FakeChild extends EventEmitter implements WatchChild {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  killed = false;
  kill(): boolean {
    this.killed = true;
    this.exit(null);
    return true;
  }
  line(s: string): void {
    this.stdout.write(s + '\n');
  }
  exit(code: number | null): void {
    this.stdout.end();
    setImmediate(() => this.emit('exit', code, null));
  }
}

export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
