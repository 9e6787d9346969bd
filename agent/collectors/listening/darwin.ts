import type { ListeningData } from '../../../shared/inventory.js';
import type { CollectorContext } from '../types.js';
import { runText } from '../util.js';
import { parseLsofListen } from './parse.js';

export async function darwinListening(ctx: CollectorContext): Promise<ListeningData> {
  // lsof exits 1 when nothing matched.
  const out = await runText(ctx, 'lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-iUDP', '-F', 'pcnPtn'], { okCodes: [0, 1], timeoutMs: 30_000 });
  return { sockets: parseLsofListen(out) };
}
