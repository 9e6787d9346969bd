import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig, envName } from '../../agent/config.js';
import { tempDir } from '../helpers/server.js';

describe('agent config', () => {
  it('has the documented defaults', () => {
    const c = loadAgentConfig(undefined, {});
    expect(c.paths).toEqual({ procfs: '/proc', sysfs: '/sys' });
    expect(c.spool.maxBytes).toBe(256 * 1024 * 1024);
    expect(c.intervals.heartbeat).toBe(60);
    expect(c.media.removableDevices).toEqual([]);
  });

  it('reads a file and lets TERMGUARD_<KEY_PATH> variables override it', () => {
    const f = join(tempDir('tg-cfg-'), 'agent.json');
    writeFileSync(f, JSON.stringify({ paths: { sysfs: '/fixtures/sys' }, spool: { maxBytes: 1048576 }, logLevel: 'warn' }));
    const c = loadAgentConfig(f, { TERMGUARD_PATHS_SYSFS: '/other/sys', TERMGUARD_MEDIA_REMOVABLEDEVICES: '/dev/loop*,/dev/sdz', TERMGUARD_INTERVALS_HEARTBEAT: '5' });
    expect(envName(['paths', 'sysfs'])).toBe('TERMGUARD_PATHS_SYSFS');
    expect(c.paths.sysfs).toBe('/other/sys');
    expect(c.spool.maxBytes).toBe(1048576);
    expect(c.media.removableDevices).toEqual(['/dev/loop*', '/dev/sdz']);
    expect(c.intervals.heartbeat).toBe(5);
    expect(c.logLevel).toBe('warn');
  });

  it('refuses unknown keys and bad values with TG_E_CONFIG', () => {
    const f = join(tempDir('tg-cfg-'), 'agent.json');
    writeFileSync(f, JSON.stringify({ spool: { maxBytes: 10 } }));
    expect(() => loadAgentConfig(f, {})).toThrow(/TG_E_CONFIG|spool\.maxBytes/);
    writeFileSync(f, JSON.stringify({ colour: 'red' }));
    expect(() => loadAgentConfig(f, {})).toThrow(/colour/);
    writeFileSync(f, '{not json');
    expect(() => loadAgentConfig(f, {})).toThrow(/not valid JSON|JSON/);
    expect(() => loadAgentConfig(undefined, { TERMGUARD_INTERVALS_HEARTBEAT: 'often' })).toThrow(/intervals\.heartbeat/);
  });
});
