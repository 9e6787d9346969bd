/** The command runner: typed failures instead of throws, caps, timeouts, and code-page decoding. */
import { describe, it, expect } from 'vitest';
import { runCommand, memoRunner, oemLabel, slowQueries, type Runner } from '../../agent/exec.js';

describe('runCommand', () => {
  it('returns output and exit code', async () => {
    const r = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3 });
  });
  it('reports a missing tool as an error, not a throw', async () => {
    const r = await runCommand('no-such-tool-termguard', []);
    expect(r.code).toBeNull();
    expect(r.error).toBe('no-such-tool-termguard not found');
  });
  it('kills a hanging tool at its timeout', async () => {
    const t0 = Date.now();
    const r = await runCommand('sleep', ['10'], { timeoutMs: 200 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.error).toMatch(/timed out after 200 ms/);
  });
  it('stops a tool that prints more than the cap', async () => {
    const r = await runCommand('yes', [], { maxBytes: 100_000 });
    expect(r.error).toMatch(/more than 100000 bytes/);
  });
  it('maps Windows OEM code pages to decoders', () => {
    expect(oemLabel('936')).toBe('gbk');
    expect(oemLabel('437')).toBe('windows-1252');
    expect(new TextDecoder(oemLabel('936')).decode(Buffer.from([0xb3, 0xc9, 0xb9, 0xa6]))).toBe('成功');
  });
});

describe('memoRunner', () => {
  it('runs a slow read-only query once within its time to live, and never caches failures', async () => {
    let calls = 0;
    const base: Runner = async () => { calls++; return { stdout: `run ${calls}`, stderr: '', code: calls === 1 ? 1 : 0 }; };
    const run = memoRunner(base, 60_000, slowQueries);
    const args = ['-s', '-o', 'Debug::NoLocking=1', 'upgrade'];
    expect((await run('apt-get', args)).code).toBe(1);
    expect((await run('apt-get', args)).stdout).toBe('run 2');
    expect((await run('apt-get', args)).stdout).toBe('run 2');
    await run('apt-get', ['update']);
    await run('apt-get', ['update']);
    expect(calls).toBe(4);
  });
});
