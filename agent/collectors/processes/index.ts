/** Running processes with executable path, owner, start time and a cached SHA-256 of the executable (art18). */
import type { ProcessesData } from '../../../shared/inventory.js';
import { collector, type Collector } from '../types.js';
import { makeDarwinProcesses } from './darwin.js';
import { ExecutableHashCache } from './hash.js';
import { makeLinuxProcesses } from './linux.js';
import { makeWin32Processes } from './win32.js';

export { ExecutableHashCache };

/** A processes collector with its own hash cache (one per agent; tests pass their own to count hashing). */
export function makeProcessesCollector(cache = new ExecutableHashCache()): Collector<ProcessesData> {
  return collector<ProcessesData>('processes', { linux: makeLinuxProcesses(cache), win32: makeWin32Processes(cache), darwin: makeDarwinProcesses(cache) }, 120_000);
}

export const processesCollector = makeProcessesCollector();
