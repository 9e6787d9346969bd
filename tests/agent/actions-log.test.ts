/** actions.log: a hash chain, so an edited line, a removed line and a cut-off tail all show. */
import { describe, it, expect } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ActionsLog, verifyActionsLog } from '../../agent/actions-log.js';
import { tempDir } from '../helpers/server.js';

function logWith(n: number): { path: string; log: ActionsLog } {
  const path = join(tempDir('tg-actions-'), 'actions.log');
  const log = new ActionsLog(path);
  for (let i = 1; i <= n; i++) log.append(i % 2 ? 'usb.blocked' : 'egress.enforcement', { i, device: `dev-${i}` });
  return { path, log };
}

describe('actions log', () => {
  it('appends a chain that verifies, 0600, and continues it after a reopen', () => {
    const { path, log } = logWith(5);
    const head = log.head()!;
    log.close();
    expect(head.seq).toBe(5);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(verifyActionsLog(path)).toMatchObject({ entries: 5, ok: true, firstBadSeq: null, head });
    const again = new ActionsLog(path);
    expect(again.append('agent.started', {}).seq).toBe(6);
    again.close();
    expect(verifyActionsLog(path)).toMatchObject({ entries: 6, ok: true });
    expect(verifyActionsLog(path, head).ok).toBe(true);
  });

  it('an edited line is reported at its seq', () => {
    const { path, log } = logWith(5);
    log.close();
    writeFileSync(path, readFileSync(path, 'utf8').replace('"dev-3"', '"dev-X"'));
    expect(verifyActionsLog(path)).toMatchObject({ ok: false, firstBadSeq: 3 });
    expect(verifyActionsLog(path).problem).toMatch(/edited/);
  });

  it('a removed line is a gap', () => {
    const { path, log } = logWith(5);
    log.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.splice(1, 1);
    writeFileSync(path, lines.join('\n'));
    expect(verifyActionsLog(path)).toMatchObject({ ok: false, firstBadSeq: 2, entries: 4 });
    expect(verifyActionsLog(path).problem).toMatch(/missing/);
  });

  it('a cut-off tail verifies alone but not against the head the server holds', () => {
    const { path, log } = logWith(5);
    const serverHead = log.head()!; // what the last heartbeat carried
    log.close();
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    writeFileSync(path, lines.slice(0, 3).join('\n') + '\n');
    expect(verifyActionsLog(path)).toMatchObject({ ok: true, entries: 3, head: { seq: 3 } });
    expect(verifyActionsLog(path, serverHead)).toMatchObject({ ok: false, firstBadSeq: 4 });
    expect(verifyActionsLog(path, serverHead).problem).toMatch(/cut off/);
    // A rewritten log (recomputed hashes) no longer matches the server's head either.
    const forged = new ActionsLog(path);
    forged.append('x', {});
    forged.append('y', {});
    forged.close();
    expect(verifyActionsLog(path)).toMatchObject({ ok: true, entries: 5 });
    expect(verifyActionsLog(path, serverHead)).toMatchObject({ ok: false, firstBadSeq: 5 });
  });
});
