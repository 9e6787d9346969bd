/** `npm run bench [-- ingest|enroll|idle|inventory|inventory-rss|usb|egress|console|fleet|fleet-ingest …]`: runs the named benchmarks (all by default), one after another. */
import { cleanup } from './lib.js';
import { ingest } from './ingest.js';
import { enrollBench } from './enroll.js';
import { idle } from './idle.js';
import { inventoryBench } from './inventory.js';
import { inventoryRss } from './inventory-rss.js';
import { usb } from './usb.js';
import { egress } from './egress.js';
import { consoleBench } from './console.js';
import { fleetBench } from './fleet.js';
import { fleetIngest } from './fleet-ingest.js';

const BENCHES: Record<string, () => Promise<void>> = { ingest, enroll: enrollBench, idle, inventory: inventoryBench, 'inventory-rss': inventoryRss, usb, egress, console: consoleBench, fleet: fleetBench, 'fleet-ingest': fleetIngest };

const names = process.argv.slice(2);
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length) {
  process.stderr.write(`unknown benchmark: ${unknown.join(', ')} (choose from ${Object.keys(BENCHES).join(', ')})\n`);
  process.exit(2);
}
try {
  for (const n of names.length ? names : Object.keys(BENCHES)) await BENCHES[n]!();
} catch (e) {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
