/**
 * The machine id the server uses to recognise a machine that enrolls again (and to spot clones).
 * Read from the OS; config `machineId` overrides it for simulators and tests.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export function parseIoregPlatformUuid(text: string): string | null {
  return /"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]{36})"/.exec(text)?.[1] ?? null;
}

export function parseRegMachineGuid(text: string): string | null {
  return /MachineGuid\s+REG_SZ\s+([0-9A-Fa-f-]{36})/.exec(text)?.[1] ?? null;
}

export function readMachineId(platform: NodeJS.Platform = process.platform): string | null {
  try {
    if (platform === 'linux') {
      for (const p of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
        try {
          const id = readFileSync(p, 'utf8').trim();
          if (/^[0-9a-f]{32}$/.test(id)) return id;
        } catch { /* try the next file */ }
      }
      return null;
    }
    if (platform === 'win32') {
      return parseRegMachineGuid(execFileSync('reg', ['query', 'HKLM\\SOFTWARE\\Microsoft\\Cryptography', '/v', 'MachineGuid'], { encoding: 'utf8', timeout: 10_000 }));
    }
    if (platform === 'darwin') {
      return parseIoregPlatformUuid(execFileSync('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { encoding: 'utf8', timeout: 10_000 }));
    }
  } catch {
    return null;
  }
  return null;
}
