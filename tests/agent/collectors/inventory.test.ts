import { describe, expect, it } from 'vitest';
import { collectInventory } from '../../../agent/collectors/inventory.js';
import { collector } from '../../../agent/collectors/types.js';
import { inventoryRunSchema, inventorySectionNames, type OsData } from '../../../shared/inventory.js';
import { ctxWith, hostContext, onLinux, tableRunner } from './helpers.js';

describe('collectInventory', () => {
  it('a hanging, a throwing and a missing tool each become an error; the rest still return', async () => {
    const hang = collector<OsData>('os', { linux: () => new Promise<never>(() => {}) });
    const boom = collector<never>('hardware', { linux: async () => { throw new Error('boom'); } });
    const t0 = performance.now();
    const r = await collectInventory(ctxWith('linux', tableRunner({})), { collectors: { os: hang, hardware: boom as never }, timeoutMs: 300, concurrency: 3 });
    expect(performance.now() - t0).toBeLessThan(5_000);
    const s = inventoryRunSchema.parse(r).snapshot;
    expect(s.os).toEqual({ status: 'error', reason: 'os timed out after 300 ms' });
    expect(s.hardware).toEqual({ status: 'error', reason: 'hardware: boom' });
    expect(s.network).toEqual({ status: 'error', reason: 'network: ip not found' });
    expect(s.services.status).toBe('unsupported');
    expect(Object.keys(r.durationsMs).sort()).toEqual([...inventorySectionNames].sort());
  });

  it('only: unrequested sections say so', async () => {
    const r = await collectInventory(ctxWith('darwin', tableRunner({})), { only: ['services'] });
    expect(r.snapshot.os).toEqual({ status: 'unsupported', reason: 'os not requested' });
    expect(r.snapshot.services).toEqual({ status: 'error', reason: 'services: launchctl not found' });
    expect(Object.keys(r.durationsMs)).toEqual(['services']);
  });
});

describe.runIf(onLinux)('collectInventory on this machine', () => {
  it('every section is ok or says why, and the whole run validates against the schema', async () => {
    const r = inventoryRunSchema.parse(await collectInventory(hostContext()));
    for (const name of inventorySectionNames) {
      const s = r.snapshot[name];
      if (s.status !== 'ok') expect(s.reason, name).toBeTruthy();
    }
    expect(r.snapshot.os.status).toBe('ok');
    expect(r.snapshot.processes.status).toBe('ok');
    console.log('inventory durations (ms):', JSON.stringify(r.durationsMs));
  }, 30_000);
});
